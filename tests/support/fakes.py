"""Stand-ins for the outside AI providers: real HTTP servers on loopback that speak each
provider's protocol and record exactly what they received.

The provider is the one thing the test suite replaces; everything between the gateway and the
socket is the real code. Use as a context manager::

    with FakeProvider("anthropic") as provider:
        provider.respond((429, {"Retry-After": "2"}, b"{}"))   # first request
        ...                                                   # later ones get a success
        (request,) = provider.wait_for_requests(1)
        assert images_in("anthropic", request) == [(png_bytes, "image/png")]
"""

from __future__ import annotations

import base64
import io
import json
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

DEFAULT_ANSWER = "The fake provider looked at nothing; this is a canned answer."


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], bytes]
Script = Reply | Callable[[RecordedRequest], Reply]


def make_image(width: int = 8, height: int = 6, fmt: str = "PNG") -> bytes:
    """A small real image, so round trips and the demo server's decoding are tested for real."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), color=128).save(buffer, format=fmt)
    return buffer.getvalue()


def success_body(protocol: str, text: str = DEFAULT_ANSWER) -> bytes:
    """A minimal successful answer in ``protocol``'s response shape."""
    if protocol == "openai":
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": "fake-model",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text},
                 "finish_reason": "stop"}
            ],
        }
    elif protocol == "anthropic":
        payload = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": "fake-model",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
        }
    elif protocol == "gemini":
        payload = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
            ]
        }
    else:
        raise ValueError(protocol)
    return json.dumps(payload).encode()


def redirect_to(location: str, status: int = 302) -> Reply:
    return (status, {"Location": location}, b"")


def blocking_reply(release: threading.Event, then: Reply) -> Callable[[RecordedRequest], Reply]:
    """A reply that is held back until ``release`` is set (for timeout tests)."""

    def reply(_request: RecordedRequest) -> Reply:
        release.wait(timeout=30)
        return then

    return reply


def images_in(protocol: str, request: RecordedRequest) -> list[tuple[bytes, str]]:
    """The images a recorded request carried, decoded back to ``(bytes, mime type)``."""
    data = request.json()
    if protocol == "openai":
        user = next(m for m in data["messages"] if m["role"] == "user")
        images = []
        for part in user["content"]:
            if part["type"] == "image_url":
                header, encoded = part["image_url"]["url"].split(",", 1)
                mime = header.removeprefix("data:").removesuffix(";base64")
                images.append((base64.b64decode(encoded, validate=True), mime))
        return images
    if protocol == "anthropic":
        blocks = data["messages"][0]["content"]
        return [
            (base64.b64decode(b["source"]["data"], validate=True), b["source"]["media_type"])
            for b in blocks
            if b["type"] == "image"
        ]
    if protocol == "gemini":
        parts = data["contents"][0]["parts"]
        return [
            (base64.b64decode(p["inline_data"]["data"], validate=True),
             p["inline_data"]["mime_type"])
            for p in parts
            if "inline_data" in p
        ]
    raise ValueError(protocol)


def question_in(protocol: str, request: RecordedRequest) -> str:
    """The patient's question as a recorded request carried it."""
    data = request.json()
    if protocol == "openai":
        user = next(m for m in data["messages"] if m["role"] == "user")
        return "".join(p["text"] for p in user["content"] if p["type"] == "text")
    if protocol == "anthropic":
        blocks = data["messages"][0]["content"]
        return "".join(b["text"] for b in blocks if b["type"] == "text")
    if protocol == "gemini":
        return "".join(p["text"] for p in data["contents"][0]["parts"] if "text" in p)
    raise ValueError(protocol)


class FakeProvider:
    """A loopback HTTP(S) server speaking ``protocol``; see the module docstring.

    Replies come from the queue filled by ``respond`` (a tuple, or a callable given the
    recorded request); once the queue is empty every request gets ``success_body``.
    ``tls=(certfile, keyfile)`` serves HTTPS.
    """

    def __init__(
        self,
        protocol: str = "openai",
        *,
        answer: str = DEFAULT_ANSWER,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.protocol = protocol
        self.answer = answer
        self._tls = tls
        self._requests: list[RecordedRequest] = []
        self._scripts: deque[Script] = deque()
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle
    def __enter__(self) -> FakeProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        if self._tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server and self._thread
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # --- addresses
    @property
    def port(self) -> int:
        assert self._server
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL an endpoint for this protocol would be configured with."""
        return f"{self.origin}/v1" if self.protocol == "openai" else self.origin

    # --- scripting and inspection
    def respond(self, *scripts: Script) -> None:
        with self._changed:
            self._scripts.extend(scripts)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._changed:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived; fail the test if they do not."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(
                    f"expected {count} requests, the fake provider got {len(self._requests)}"
                )
            return list(self._requests)

    def _record(self, request: RecordedRequest) -> Script:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            if self._scripts:
                return self._scripts.popleft()
        return (200, {"Content-Type": "application/json"}, success_body(self.protocol, self.answer))


def _handler_for(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
            )
            script = provider._record(recorded)
            status, headers, reply = script(recorded) if callable(script) else script
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; the recorded list is the log

    return Handler
