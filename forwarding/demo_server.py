"""An offline stand-in for an AI model, so the whole gateway can be tried without sending a
single image to anyone.

It speaks the OpenAI-compatible chat completions protocol and answers only what it can
honestly say: how many images arrived, each one's format and pixel size, and how long the
question was (never what it said). No model looks at anything. Run it with::

    python -m forwarding.demo_server --port 8765

and point the demo endpoint at ``http://127.0.0.1:8765/v1``. Standard library and Pillow only;
it keeps nothing after answering and logs only request lines.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

MAX_REQUEST_BYTES = 64 * 1024 * 1024
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
HEADING = "Demo endpoint — not a medical opinion"


class BadRequest(Exception):
    """A request the demo cannot answer; the message goes back in an OpenAI-style error."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def describe_request(payload: Any) -> str:
    """Return the demo's honest answer to a chat completions request body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise BadRequest("'messages' must be a list of messages.")
    images: list[tuple[str, int, int]] = []
    question_length = 0
    for message in payload["messages"]:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            question_length += len(content)
            continue
        if not isinstance(content, list):
            raise BadRequest("A user message's 'content' must be text or a list of parts.")
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                question_length += len(part["text"])
            elif kind == "image_url":
                images.append(_inspect_image(part, len(images) + 1))
            else:
                raise BadRequest("Each content part must be a 'text' or 'image_url' part.")

    # Markdown, as a model would answer: a heading, and blank lines around the list so that the
    # sentence after it is not read as part of its last item.
    lines = [
        f"## {HEADING}",
        "",
        "No AI model looked at your images. This demo only checks what arrived, so you can "
        "see the gateway working from start to finish.",
        "",
        f"Images received: {len(images)}",
        "",
    ]
    lines += [f"{n}. {fmt}, {w} x {h} pixels" for n, (fmt, w, h) in enumerate(images, 1)]
    lines += [
        "",
        f"Your question was {question_length} characters long (the demo does not read it).",
    ]
    return "\n".join(lines)


def _inspect_image(part: dict[str, Any], number: int) -> tuple[str, int, int]:
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise BadRequest(f"Image {number} must be a base64 data: URL.")
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"Image {number} is not valid base64.") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.format or "unknown", image.width, image.height
    except (OSError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadRequest(f"Image {number} is not an image the demo can read.") from exc


def completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-demo-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": None}}


class DemoHandler(BaseHTTPRequestHandler):
    server_version = "GatewayDemo/1"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, error_body("Unknown path."))

    def do_POST(self) -> None:
        try:
            if self.path.split("?", 1)[0] not in CHAT_PATHS:
                raise BadRequest("Unknown path; use /v1/chat/completions.", 404)
            payload = json.loads(self._read_body())
            model = payload.get("model") if isinstance(payload, dict) else None
            text = describe_request(payload)
        except BadRequest as exc:
            self._send_json(exc.status, error_body(str(exc)))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._send_json(400, error_body("The request body is not valid JSON."))
        else:
            self._send_json(200, completion(model if isinstance(model, str) else "demo", text))

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("A Content-Length header is required.", 411)
        if int(length) > MAX_REQUEST_BYTES:
            raise BadRequest("The request is too large for the demo.", 413)
        return self.rfile.read(int(length))

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_server(port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A demo server bound to ``host:port`` (port 0 picks a free one); call serve_forever."""
    server = ThreadingHTTPServer((host, port), DemoHandler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    arguments = parser.parse_args(argv)
    server = make_server(arguments.port, arguments.host)
    print(f"Demo endpoint on http://{arguments.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
