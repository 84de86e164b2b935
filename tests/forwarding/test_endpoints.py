"""Configuring AI endpoints: validation, the write-only key, and config versions."""

import pytest
from django.core.exceptions import ValidationError

from forwarding.endpoints import (
    DEMO_NAME,
    create_endpoint,
    disable_endpoint,
    ensure_demo_endpoint,
    read_api_key,
    set_api_key,
    snapshot,
    update_endpoint,
)
from forwarding.models import DEFAULT_SYSTEM_PROMPT, Endpoint
from vault import UnknownObjectError, get_vault

pytestmark = pytest.mark.django_db


def _endpoint(**overrides) -> Endpoint:
    arguments = {
        "name": "Claude",
        "protocol": "anthropic",
        "base_url": "https://api.anthropic.com/",
        "model": "claude-test",
    } | overrides
    return create_endpoint(**arguments)


def test_a_new_endpoint_starts_enabled_at_version_one_with_safe_defaults():
    endpoint = _endpoint()
    assert (endpoint.enabled, endpoint.config_version, endpoint.is_local) == (True, 1, False)
    assert endpoint.base_url == "https://api.anthropic.com"
    assert endpoint.system_prompt == DEFAULT_SYSTEM_PROMPT
    assert "not a diagnosis" in endpoint.system_prompt
    assert (endpoint.max_images, endpoint.max_image_side, endpoint.timeout_seconds) == (4, 1568, 60)


@pytest.mark.parametrize(
    ("base_url", "is_local", "message"),
    [
        ("ftp://api.example.com", False, "https://"),
        ("api.example.com", False, "https://"),
        ("http://api.example.com", False, "only allowed for a local endpoint"),
        ("https://user:secret@api.example.com", False, "user name or password"),
        ("https://api.example.com/v1#part", False, "fragment"),
        ("https:///v1", False, "no host"),
        ("https://api.example.com:99999", False, "invalid port"),
    ],
)
def test_bad_base_urls_are_refused_with_a_clear_reason(base_url, is_local, message):
    with pytest.raises(ValidationError, match=message):
        _endpoint(base_url=base_url, is_local=is_local)


def test_plain_http_is_fine_for_a_local_endpoint():
    assert _endpoint(base_url="http://127.0.0.1:11434/v1", is_local=True).is_local


def test_two_endpoints_cannot_share_a_name():
    _endpoint()
    with pytest.raises(ValidationError, match="already exists"):
        _endpoint()


@pytest.mark.parametrize(
    "change",
    [
        {"protocol": "openai"},
        {"base_url": "https://other.example.com"},
        {"model": "claude-other"},
        {"max_images": 2},
        {"max_image_side": 1024},
        {"max_image_bytes": 1000},
        {"system_prompt": "Be brief."},
        {"data_use_note": "Retained 30 days."},
        {"is_local": True},
    ],
)
def test_changing_what_a_patient_consents_to_bumps_the_config_version(change):
    endpoint = _endpoint()
    changed = update_endpoint(endpoint, **change)
    assert changed == list(change)
    assert endpoint.config_version == 2


def test_renaming_or_an_unchanged_update_keeps_the_config_version():
    endpoint = _endpoint()
    assert update_endpoint(endpoint, name="Claude (EU)", timeout_seconds=90) == [
        "name",
        "timeout_seconds",
    ]
    assert update_endpoint(endpoint, model="claude-test") == []
    assert endpoint.config_version == 1


def test_an_invalid_update_changes_nothing():
    endpoint = _endpoint()
    with pytest.raises(ValidationError):
        update_endpoint(endpoint, base_url="http://api.example.com", model="changed")
    endpoint.refresh_from_db()
    assert (endpoint.model, endpoint.config_version) == ("claude-test", 1)


def test_disabling_keeps_the_row_and_its_version():
    endpoint = _endpoint()
    disabled = disable_endpoint(endpoint.id)
    assert disabled.enabled is False
    assert disabled.config_version == 1


def test_the_snapshot_names_what_the_patient_agreed_to_without_the_key(vault_settings):
    endpoint = _endpoint(api_key="sk-ant-secret")
    assert snapshot(endpoint) == {
        "endpoint_id": str(endpoint.id),
        "name": "Claude",
        "protocol": "anthropic",
        "host": "api.anthropic.com",
        "model": "claude-test",
        "config_version": 1,
    }


def test_the_api_key_is_sealed_in_the_vault_and_read_back_only_on_request(vault_settings):
    endpoint = _endpoint(api_key="  sk-ant-secret\n")
    assert endpoint.api_key_object is not None
    assert read_api_key(endpoint) == "sk-ant-secret"
    stored = Endpoint.objects.filter(pk=endpoint.pk).values().get()
    assert "sk-ant-secret" not in repr(stored)
    assert "sk-ant-secret" not in repr(endpoint) + str(endpoint)


def test_replacing_the_key_bumps_the_version_and_shreds_the_old_key_after_commit(
    vault_settings, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(api_key="sk-old")
    old_object = endpoint.api_key_object
    with django_capture_on_commit_callbacks(execute=True):
        set_api_key(endpoint, "sk-new")
    assert read_api_key(endpoint) == "sk-new"
    assert endpoint.config_version == 2
    with pytest.raises(UnknownObjectError):
        get_vault().read_bytes(old_object)


def test_an_endpoint_without_a_key_sends_none():
    assert read_api_key(_endpoint()) == ""


def test_the_demo_endpoint_is_created_once_and_moved_when_its_url_changes():
    first = ensure_demo_endpoint("http://127.0.0.1:8765/v1")
    again = ensure_demo_endpoint("http://127.0.0.1:8765/v1")
    assert again.id == first.id and again.config_version == 1
    moved = ensure_demo_endpoint("http://127.0.0.1:9999/v1")
    assert moved.id == first.id and moved.config_version == 2
    assert Endpoint.objects.filter(name=DEMO_NAME).count() == 1
    assert (moved.is_local, moved.protocol) == (True, "openai")
    assert "not an AI model" in moved.data_use_note


def test_the_demo_endpoint_is_re_enabled_if_an_admin_disabled_it():
    demo = ensure_demo_endpoint("http://127.0.0.1:8765/v1")
    disable_endpoint(demo.id)
    assert ensure_demo_endpoint("http://127.0.0.1:8765/v1").enabled
