"""The offline demo endpoint answers real requests with only what it can honestly say."""

import json
import subprocess
import sys
import threading
from http.client import HTTPConnection

import pytest

from forwarding.demo_server import HEADING, make_server
from forwarding.egress import send
from forwarding.protocols import build_request, parse_answer
from scans.answers import render_markdown
from tests.support.fakes import make_image


@pytest.fixture
def demo_url():
    server = make_server(0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _post(url: str, body: bytes, path: str = "/v1/chat/completions") -> tuple[int, dict]:
    connection = HTTPConnection(url.removeprefix("http://"), timeout=5)
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_it_reports_each_images_format_and_size_and_only_the_questions_length(demo_url):
    question = "Is the shadow on my left lung something to worry about?"
    prepared = build_request(
        "openai",
        base_url=f"{demo_url}/v1",
        model="demo",
        api_key="",
        system_prompt="Be careful.",
        question=question,
        images=[(make_image(64, 32, "PNG"), "image/png"), (make_image(7, 5, "JPEG"), "image/jpeg")],
    )
    response = send(prepared, allow_local=True, timeout=5)
    answer = parse_answer("openai", response.status, response.body)

    assert answer.startswith(f"## {HEADING}")
    assert "No AI model looked at your images" in answer
    assert "Images received: 2" in answer
    assert "1. PNG, 64 x 32 pixels" in answer
    assert "2. JPEG, 7 x 5 pixels" in answer
    assert f"Your question was {len(question)} characters long" in answer
    assert "shadow" not in answer


def test_its_answer_renders_as_a_heading_a_list_and_a_separate_sentence(demo_url):
    """GIVEN the demo's answer about two images WHEN the answer page renders it THEN each image
    is its own list item and the sentence after the list is not swallowed by the last item."""
    prepared = build_request(
        "openai",
        base_url=f"{demo_url}/v1",
        model="demo",
        api_key="",
        system_prompt="",
        question="Anything?",
        images=[(make_image(64, 32, "PNG"), "image/png"), (make_image(7, 5, "JPEG"), "image/jpeg")],
    )
    response = send(prepared, allow_local=True, timeout=5)
    html = render_markdown(parse_answer("openai", response.status, response.body))

    assert f"<h2>{HEADING}</h2>" in html
    assert "<ol>\n<li>PNG, 64 x 32 pixels</li>\n<li>JPEG, 7 x 5 pixels</li>\n</ol>" in html
    assert "<p>Your question was 9 characters long (the demo does not read it).</p>" in html


def test_it_answers_health_checks(demo_url):
    connection = HTTPConnection(demo_url.removeprefix("http://"), timeout=5)
    connection.request("GET", "/health")
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"model": "demo"}', "'messages' must be a list"),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "image_url",'
            b' "image_url": {"url": "https://example.com/x.png"}}]}]}',
            "base64 data: URL",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "image_url",'
            b' "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]}]}',
            "not an image the demo can read",
        ),
    ],
)
def test_malformed_requests_get_an_openai_style_error(demo_url, body, message):
    status, payload = _post(demo_url, body)
    assert status == 400
    assert payload["error"]["type"] == "invalid_request_error"
    assert message in payload["error"]["message"]


def test_an_unknown_path_is_a_404(demo_url):
    status, payload = _post(demo_url, b"{}", path="/v1/embeddings")
    assert status == 404 and "error" in payload


def test_it_runs_as_a_module_on_loopback():
    with subprocess.Popen(
        [sys.executable, "-m", "forwarding.demo_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            banner = process.stdout.readline()
            assert banner.startswith("Demo endpoint on http://127.0.0.1:")
            address = banner.split("http://", 1)[1].removesuffix("/v1\n")
            connection = HTTPConnection(address, timeout=5)
            connection.request("GET", "/health")
            assert connection.getresponse().status == 200
        finally:
            process.terminate()
