"""The clinic's DICOM node, driven by DICOM clients nobody here wrote: Debian's dcmtk
(`echoscu`, `storescu`) and pynetdicom (its `storescu` application and its association API).

GIVEN a node that accepts the clinic PACS's AE title from its address,
WHEN studies are pushed, THEN each instance is sealed in the vault and filed by study;
WHEN anything else connects or misbehaves, THEN it is refused cleanly and nothing changes.
"""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
import sys

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, _config
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]

from audit.models import AuditEntry
from clinic.pacs.models import Instance, Study
from clinic.pacs.receiving import read_summary
from tests.support import builders
from tests.support.pacs import (
    NODE_AE,
    PACS_AE,
    configure_node,
    dcmtk,
    lying_about_its_length,
    running_node,
    write_study,
)
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("blob_dir"),
]


@pytest.fixture
def node(settings):
    settings.DICOM_TIMEOUT_SECONDS = 3
    configure_node()
    with running_node() as listener:
        yield listener


def storescu(node, *files, calling=PACS_AE, called=NODE_AE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [dcmtk("storescu"), "-aet", calling, "-aec", called, "127.0.0.1", str(node.port)]
        + [str(f) for f in files],
        capture_output=True,
        timeout=60,
    )


def refusals() -> list[str]:
    return [e.details["reason"] for e in AuditEntry.objects.filter(action="dicom.refused")]


def node_hangs_up(raw: socket.socket) -> bool:
    """Whether the node closes the connection (within 10 s), whatever it sends first."""
    raw.settimeout(10)
    try:
        while raw.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        # Reset by the node, or closed under us by the client's own association thread once it
        # saw the node hang up (EBADF): either way the connection is gone.
        pass
    return True


def associate(node, calling=PACS_AE):
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    return ae.associate("127.0.0.1", node.port, ae_title=NODE_AE)


def test_it_answers_a_dcmtk_echo(node):
    result = subprocess.run(
        [dcmtk("echoscu"), "-aet", PACS_AE, "-aec", NODE_AE, "127.0.0.1", str(node.port)],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_it_answers_pynetdicoms_echoscu_application(node):
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pynetdicom", "echoscu"),
            *("127.0.0.1", str(node.port), "-aet", PACS_AE, "-aec", NODE_AE),
        ],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert b"Association Rejected" not in result.stderr + result.stdout


def test_a_study_pushed_by_dcmtk_is_sealed_and_filed_as_one_study(node, tmp_path, blob_dir, caplog):
    caplog.set_level(logging.DEBUG)
    files = write_study(tmp_path / "export", count=3, PatientName="Quillfeather^Ambrosine")

    result = storescu(node, *files)

    assert result.returncode == 0, result.stderr
    study = Study.objects.get()
    assert study.instance_count == 3 and study.source == "dimse"
    assert read_summary(study)["PatientName"] == "Quillfeather^Ambrosine"
    # Sealed: no blob holds the name in the clear, and each instance reads back whole.
    for blob in blob_dir.rglob("*"):
        if blob.is_file():
            assert b"Quillfeather" not in blob.read_bytes()
    from vault import get_vault

    for instance in Instance.objects.all():
        dataset = dcmread(get_vault().open(instance.vault_object))
        assert dataset.StudyInstanceUID == dcmread(files[0]).StudyInstanceUID
    # The node audits the association once its connection has closed, in its own thread.
    wait_until(
        lambda: AuditEntry.objects.filter(action="dicom.association").exists(),
        timeout=10,
        what="the association's audit entry",
    )
    association = AuditEntry.objects.get(action="dicom.association")
    assert association.details["stored"] == 3
    assert association.details["studies"] == [str(study.pk)]
    assert AuditEntry.objects.filter(action="study.received", object_id=str(study.pk)).count() == 1
    assert "Quillfeather" not in caplog.text


def test_the_same_instance_sent_twice_is_kept_once(node, tmp_path):
    files = write_study(tmp_path / "export", count=1)
    assert storescu(node, *files).returncode == 0
    assert storescu(node, *files).returncode == 0
    assert Instance.objects.count() == 1
    assert Study.objects.get().instance_count == 1


def test_pynetdicoms_storescu_application_pushes_a_study(node, tmp_path):
    files = write_study(tmp_path / "export", count=2)
    result = subprocess.run(
        [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(node.port)]
        + [str(f) for f in files]
        + ["-aet", PACS_AE, "-aec", NODE_AE],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert Study.objects.get().instance_count == 2


def test_an_unknown_calling_ae_title_is_rejected_and_nothing_is_stored(node, tmp_path):
    result = storescu(node, *write_study(tmp_path / "export", 1), calling="INTRUDER")
    assert result.returncode != 0
    assert b"Called AE Title Not Recognized" in result.stderr or b"Reject" in result.stderr
    assert Study.objects.count() == 0
    assert refusals() == ["ae_title"]


def test_a_called_ae_title_other_than_the_nodes_is_rejected(node, tmp_path):
    result = storescu(node, *write_study(tmp_path / "export", 1), called="SOMEONEELSE")
    assert result.returncode != 0
    assert Study.objects.count() == 0


def test_a_known_title_from_an_unknown_address_is_refused(settings, tmp_path):
    settings.DICOM_TIMEOUT_SECONDS = 3
    configure_node([(PACS_AE, "10.11.12.13")])
    with running_node() as listener:
        result = storescu(listener, *write_study(tmp_path / "export", 1))
    assert result.returncode != 0
    assert Study.objects.count() == 0
    assert refusals() == ["address"]


def test_a_peer_that_stops_mid_association_leaves_nothing_behind(node, tmp_path):
    assoc = associate(node)
    assert assoc.is_established
    raw = assoc.dul.socket.socket
    # A P-DATA-TF PDU announcing 4000 bytes, of which only a few arrive before the peer vanishes.
    raw.sendall(b"\x04\x00" + struct.pack(">L", 4000) + b"\x00" * 20)
    raw.close()
    assoc.kill()

    # The node is still there for everyone else, and kept nothing of the broken instance.
    assert storescu(node, *write_study(tmp_path / "export", 1)).returncode == 0
    assert Instance.objects.count() == 1


def test_a_pdu_larger_than_the_node_accepts_ends_the_association(node):
    assoc = associate(node)
    raw = assoc.dul.socket.socket
    raw.sendall(b"\x04\x00" + struct.pack(">L", 0x7FFFFFFF) + b"\x00" * 1024)
    assert node_hangs_up(raw)
    assoc.kill()
    wait_until(lambda: "pdu_too_large" in refusals(), timeout=10, what="the refusal's audit entry")
    assert Study.objects.count() == 0


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x09\x00\x00\x00\x00\x04abcd",  # a PDU type DICOM does not have
        b"\x01\x00\x00\x00\x00\x10" + b"\xff" * 16,  # an A-ASSOCIATE-RQ that is noise
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not DICOM at all
    ],
)
def test_a_malformed_pdu_is_refused_and_the_node_keeps_serving(node, tmp_path, garbage):
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as raw:
        raw.sendall(garbage)
        assert node_hangs_up(raw)
    assert storescu(node, *write_study(tmp_path / "export", 1)).returncode == 0
    assert Instance.objects.count() == 1


def test_an_instance_larger_than_the_limit_ends_the_association(settings, node, tmp_path):
    settings.DICOM_MAX_INSTANCE_BYTES = 4096
    settings.DICOM_MAX_PDU = 16384
    big = tmp_path / "big.dcm"
    big.write_bytes(
        builders.make_dicom_bytes(Rows=256, Columns=256, PixelData=b"\x00\x01" * 256 * 256)
    )
    # The node reads its limits at each connection: this one negotiates the smaller PDU.
    result = storescu(node, big)
    assert result.returncode != 0, result.stderr
    assert Instance.objects.count() == 0
    assert "instance_too_large" in refusals()


def test_a_dataset_that_lies_about_its_length_is_refused(node, tmp_path, monkeypatch):
    liar = tmp_path / "liar.dcm"
    liar.write_bytes(lying_about_its_length(builders.make_dicom_bytes()))
    # Send the file's bytes as they are, without pynetdicom decoding (and fixing) them first.
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    assoc = associate(node)
    status = assoc.send_c_store(liar)
    assoc.release()
    assert status.Status == 0xC000
    assert Study.objects.count() == 0 and Instance.objects.count() == 0


def test_a_flood_of_associations_from_one_peer_is_capped(settings, node, tmp_path):
    settings.DICOM_MAX_ASSOCIATIONS_PER_PEER = 2
    held = [associate(node), associate(node)]
    assert all(a.is_established for a in held)

    third = associate(node)

    assert not third.is_established
    assert "peer_limit" in refusals()
    for assoc in held:
        assoc.release()
    # Once they are released, the peer is welcome again.
    assert storescu(node, *write_study(tmp_path / "export", 1)).returncode == 0
