"""The clinic admin's AI endpoint pages: create, edit, disable; the API key is write-only."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from forwarding.endpoints import read_api_key
from forwarding.models import Endpoint

pytestmark = pytest.mark.django_db

SECRET = "sk-test-0123456789abcdefSECRET"


def endpoint_form(**overrides) -> dict:
    values = {
        "name": "Vision model",
        "protocol": "anthropic",
        "base_url": "https://api.example.org",
        "model": "vision-1",
        "api_key": SECRET,
        "timeout_seconds": 60,
        "max_images": 4,
        "max_image_side": 1568,
        "max_image_mib": 4,
        "system_prompt": "Describe carefully.",
        "data_use_note": "Kept for 30 days, never trained on.",
    }
    return values | overrides


def audit(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


@pytest.fixture
def created(admin_client, django_capture_on_commit_callbacks) -> Endpoint:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/clinic/endpoints/new/", endpoint_form())
    assert response.status_code == 302, response.content
    return Endpoint.objects.get(name="Vision model")


def test_an_admin_creates_an_endpoint_with_a_sealed_key_and_it_is_audited(created, admin):
    assert read_api_key(created) == SECRET
    entry = audit("endpoint.created")
    assert (entry.actor, entry.object_id) == (admin.pseudonym, str(created.pk))
    assert entry.details == {"protocol": "anthropic", "is_local": False, "has_api_key": True,
                             "config_version": 1}


def test_the_endpoint_pages_never_render_the_api_key(admin_client, created):
    for page in ("/clinic/endpoints/", f"/clinic/endpoints/{created.pk}/"):
        content = admin_client.get(page).content.decode()
        assert SECRET not in content
    form = admin_client.get(f"/clinic/endpoints/{created.pk}/").content.decode()
    assert 'type="password" name="api_key"' in form
    assert 'name="api_key" value' not in form
    # Nor when the form comes back with an error.
    response = admin_client.post(f"/clinic/endpoints/{created.pk}/",
                                 endpoint_form(base_url="http://insecure.example.org"))
    assert response.status_code == 200
    assert SECRET not in response.content.decode()


def test_a_blank_key_field_keeps_the_key_and_only_changed_fields_are_audited(
    admin_client, admin, created, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/clinic/endpoints/{created.pk}/",
                          endpoint_form(api_key="", model="vision-2", enabled="on"))

    created.refresh_from_db()
    assert created.model == "vision-2"
    assert read_api_key(created) == SECRET
    entry = audit("endpoint.changed")
    assert entry.actor == admin.pseudonym
    assert entry.details == {"fields": ["model"], "config_version": 2}


def test_a_new_key_replaces_the_old_one(admin_client, created, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/clinic/endpoints/{created.pk}/",
                          endpoint_form(api_key="sk-new-key-000", enabled="on"))

    created.refresh_from_db()
    assert read_api_key(created) == "sk-new-key-000"
    assert audit("endpoint.changed").details["fields"] == ["api_key"]


def test_disabling_an_endpoint_is_audited(admin_client, admin, created):
    admin_client.post(f"/clinic/endpoints/{created.pk}/disable/")

    created.refresh_from_db()
    assert not created.enabled
    entry = audit("endpoint.disabled")
    assert (entry.actor, entry.object_id) == (admin.pseudonym, str(created.pk))


def test_a_refused_endpoint_shows_why_and_creates_nothing(admin_client):
    response = admin_client.post("/clinic/endpoints/new/",
                                 endpoint_form(base_url="http://plain.example.org"))

    assert response.status_code == 200
    assert b"only allowed for a local endpoint" in response.content
    assert not Endpoint.objects.exists()
    assert audit("endpoint.created") is None


def test_a_form_error_sits_on_its_field_in_plain_words(admin_client):
    response = admin_client.post("/clinic/endpoints/new/",
                                 endpoint_form(base_url="http://plain.example.org"))

    page = response.content.decode()
    assert "--local" not in page
    assert 'aria-invalid="true"' in page
    field = page[page.index('name="base_url"') - 300: page.index('name="base_url"') + 200]
    assert 'aria-describedby="id_base_url_helptext id_base_url_error"' in field
    assert 'id="id_base_url_error"' in page
    assert 'role="alert"' in page  # the summary is announced


def test_sizes_are_in_mib_and_a_new_endpoint_has_no_key_to_keep(admin_client, created):
    new = admin_client.get("/clinic/endpoints/new/").content.decode()
    assert "Largest image (MiB)" in new
    assert "4194304" not in new
    assert "keep the current key" not in new
    edit = admin_client.get(f"/clinic/endpoints/{created.pk}/").content.decode()
    assert 'name="max_image_mib" value="4.00"' in edit
    assert "keep the current key" in edit
    assert created.max_image_bytes == 4 * 1024 * 1024


def test_test_connection_asks_the_endpoint_without_patient_data_and_is_audited(
    admin_client, admin
):
    from tests.support.consent import endpoint_for
    from tests.support.fakes import FakeProvider, images_in

    with FakeProvider("openai") as provider:
        endpoint = endpoint_for(provider)
        response = admin_client.post(f"/clinic/endpoints/{endpoint.pk}/test/", follow=True)
        (request,) = provider.wait_for_requests(1)

    assert images_in("openai", request) == []
    assert "answered and its answer could be read" in response.content.decode()
    entry = audit("endpoint.tested")
    assert (entry.actor, entry.object_id) == (admin.pseudonym, str(endpoint.pk))
    assert entry.details["outcome"] == "ok" and entry.details["status"] == 200


def test_test_connection_goes_through_the_egress_guard(admin_client):
    from tests.support.consent import endpoint_for
    from tests.support.fakes import FakeProvider

    with FakeProvider("openai") as provider:
        # Not marked local, so its loopback address must be refused before any byte is sent.
        endpoint = endpoint_for(provider, is_local=False,
                                base_url=provider.base_url.replace("http://", "https://"))
        response = admin_client.post(f"/clinic/endpoints/{endpoint.pk}/test/", follow=True)
        assert provider.requests == []

    assert "egress guard refused" in response.content.decode()
    assert audit("endpoint.tested").details["outcome"] == "refused"
