"""``manage.py endpoint``: add, list and disable AI endpoints from a shell."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from forwarding.endpoints import read_api_key
from forwarding.models import Endpoint

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("endpoint", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_add_prints_only_the_new_id_and_seals_the_key_from_a_file(vault_settings, tmp_path):
    key_file = tmp_path / "key.txt"
    key_file.write_text("sk-from-file\n")
    output = _run(
        "add", "Grok", "--protocol", "openai", "--base-url", "https://api.x.ai/v1",
        "--model", "grok-vision", "--api-key-file", str(key_file), "--max-images", "2",
    )
    endpoint = Endpoint.objects.get(pk=output.strip())
    assert output == f"{endpoint.id}\n"
    assert (endpoint.protocol, endpoint.model, endpoint.max_images) == ("openai", "grok-vision", 2)
    assert read_api_key(endpoint) == "sk-from-file"


def test_add_local_allows_a_plain_http_model_on_this_machine():
    endpoint_id = _run(
        "add", "Ollama", "--protocol", "openai", "--base-url", "http://127.0.0.1:11434/v1",
        "--model", "llava", "--local",
    ).strip()
    assert Endpoint.objects.get(pk=endpoint_id).is_local


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://api.example.com/v1", "only allowed for a local endpoint"),
        ("https://me:pw@api.example.com", "user name or password"),
        ("https://api.example.com/#x", "fragment"),
        ("gopher://api.example.com", "https://"),
    ],
)
def test_add_refuses_bad_base_urls_with_a_clear_error(base_url, message):
    with pytest.raises(CommandError, match=message):
        _run("add", "Bad", "--protocol", "openai", "--base-url", base_url, "--model", "m")
    assert not Endpoint.objects.exists()


def test_add_refuses_a_missing_key_file(tmp_path):
    with pytest.raises(CommandError, match="API key file"):
        _run(
            "add", "X", "--protocol", "gemini", "--base-url", "https://g.example.com",
            "--model", "m", "--api-key-file", str(tmp_path / "missing"),
        )


def test_list_shows_each_endpoint_but_never_its_key(vault_settings, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("sk-never-shown")
    endpoint_id = _run(
        "add", "Gemini", "--protocol", "gemini", "--base-url",
        "https://generativelanguage.googleapis.com", "--model", "gemini-2.5-flash",
        "--api-key-file", str(key_file),
    ).strip()
    listing = _run("list")
    header, row = listing.splitlines()
    assert header.split() == [
        "id", "name", "protocol", "host", "model", "local", "enabled", "version"
    ]
    assert row.split() == [
        endpoint_id, "Gemini", "gemini", "generativelanguage.googleapis.com",
        "gemini-2.5-flash", "no", "yes", "1",
    ]
    assert "sk-never-shown" not in listing


def test_disable_turns_an_endpoint_off():
    endpoint_id = _run(
        "add", "Claude", "--protocol", "anthropic", "--base-url", "https://api.anthropic.com",
        "--model", "claude-test",
    ).strip()
    _run("disable", endpoint_id)
    assert Endpoint.objects.get(pk=endpoint_id).enabled is False


@pytest.mark.parametrize("endpoint_id", ["not-a-uuid", "6f1c1f4e-0000-4000-8000-000000000000"])
def test_disable_reports_an_unknown_id(endpoint_id):
    with pytest.raises(CommandError, match="No endpoint"):
        _run("disable", endpoint_id)
