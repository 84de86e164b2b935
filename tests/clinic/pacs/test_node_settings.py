"""The clinic admin's page for the DICOM node: its AE title, its peers and DICOMweb tokens."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from clinic.pacs.models import AllowedPeer, DicomNode, DicomwebToken
from clinic.pacs.node import token_for

pytestmark = pytest.mark.django_db


def test_an_admin_sets_the_ae_title_and_a_bad_one_is_refused(admin_client):
    admin_client.post(reverse("pacs:node"), {"ae_title": "GATEWAY"})
    admin_client.post(reverse("pacs:node"), {"ae_title": "BACK\\SLASH"})
    admin_client.post(reverse("pacs:node"), {"ae_title": "X" * 17})
    assert DicomNode.objects.get().ae_title == "GATEWAY"
    assert AuditEntry.objects.filter(action="dicom.node_changed").count() == 1


def test_a_peer_needs_an_ae_title_and_an_ip_address(admin_client):
    admin_client.post(reverse("pacs:peer_add"), {"ae_title": "PACS", "address": "10.1.2.3"})
    admin_client.post(reverse("pacs:peer_add"), {"ae_title": "PACS", "address": "pacs.example"})
    admin_client.post(reverse("pacs:peer_add"), {"ae_title": "", "address": "10.1.2.4"})
    assert list(AllowedPeer.objects.values_list("ae_title", "address")) == [("PACS", "10.1.2.3")]
    peer = AllowedPeer.objects.get()
    admin_client.post(reverse("pacs:peer_delete", args=[peer.pk]))
    assert AllowedPeer.objects.count() == 0
    # The log names the peer by its id only, never its title or address.
    assert "10.1.2.3" not in str(list(AuditEntry.objects.values_list("details", flat=True)))


def test_a_dicomweb_token_is_shown_once_stored_as_a_hash_and_can_be_revoked(admin_client):
    page = admin_client.post(reverse("pacs:token_create"), {"name": "router"}).content.decode()
    clear = page.split('id="new-token">')[1].split("<")[0]
    token = DicomwebToken.objects.get()
    assert clear not in token.token_hash and token_for(f"Bearer {clear}") == token
    assert clear not in admin_client.get(reverse("pacs:node")).content.decode()

    admin_client.post(reverse("pacs:token_revoke", args=[token.pk]))
    assert token_for(f"Bearer {clear}") is None
