"""A run over a series works out a repeated element once, and changes nothing by it: every
output, report and reason is what each file alone gives, across patients and options."""

from __future__ import annotations

import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scans.deid import memo as memo_module
from scans.deid.engine import DeidKeys, DeidOptions, Memo, deidentify_bytes
from tests.support.phi_corpus import Patient, ct_series, to_bytes

KEYS = DeidKeys(bytes(range(32)))


def interleaved_series() -> list[bytes]:
    """Two patients' CT slices, alternating: the same sequences and equipment, other
    identities; both transfer syntaxes."""
    first = Patient()
    second = Patient(family="MRKOTHERFAM7f3a", given="MRKOTHERGIV7f3a",
                     patient_id="MRKOTHERPID7f3a", birth_date="19610101")
    files = []
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        one = ct_series(first, count=4, rows=16, columns=16, transfer_syntax=syntax)
        two = ct_series(second, count=4, rows=16, columns=16, transfer_syntax=syntax)
        for a, b in zip(one, two, strict=True):
            files += [to_bytes(a), to_bytes(b)]
    return files


@pytest.mark.parametrize("options", [
    DeidOptions(detect_text=False),
    DeidOptions(detect_text=False, retain_dates=True),
    DeidOptions(detect_text=False, retain_dates=True, clean_descriptors=True),
], ids=["default", "shifted dates", "dates and descriptors"])
def test_a_shared_memo_gives_what_each_file_alone_gives(options: DeidOptions) -> None:
    """GIVEN slices of two patients, interleaved, in two transfer syntaxes
    WHEN they are de-identified one by one with one memo, and each alone without one
    THEN every outcome, reason, report, output byte and identifier is the same; and the
    memo was used (it holds entries).
    """
    memo = Memo()
    for data in interleaved_series():
        shared = deidentify_bytes(data, keys=KEYS, options=options, memo=memo,
                                  extra_identifiers=["Jane Example"])
        alone = deidentify_bytes(data, keys=KEYS, options=options,
                                 extra_identifiers=["Jane Example"])
        assert (shared.outcome, shared.reason) == (alone.outcome, alone.reason) == ("clean", "")
        assert shared.output == alone.output
        assert shared.report == alone.report
        assert shared.identifiers == alone.identifiers
        assert shared.identifiers.sources == alone.identifiers.sources
    assert "entries" in repr(memo) and not repr(memo).startswith("Memo(<0 ")


def test_numbers_the_pixel_stage_read_keep_each_slices_spelling_through_the_memo() -> None:
    """GIVEN slices whose window and rescale (read, so converted, by the pixel stage before
    cleaning) are spelled differently from slice to slice: 40, 40.0, 40.00
    WHEN they are de-identified with text detection on, with one memo and each alone
    THEN each output is what the slice alone gives, its own spelling included."""
    memo = Memo()
    series = ct_series(Patient(), count=6, rows=16, columns=16)
    for index, ds in enumerate(series):
        center = ("40", "40.0", "40.00")[index % 3]
        ds.WindowCenter = center
        ds.RescaleIntercept = ("-1024", "-1024.0")[index % 2]
        data = to_bytes(ds)
        shared = deidentify_bytes(data, keys=KEYS, options=DeidOptions(), memo=memo)
        alone = deidentify_bytes(data, keys=KEYS, options=DeidOptions())
        assert (shared.outcome, shared.reason) == (alone.outcome, alone.reason) == ("clean", "")
        assert shared.output == alone.output and shared.report == alone.report
        assert shared.output is not None
        spelling = center.encode() + b" " * (len(center) % 2)
        assert b"\x28\x00\x50\x10DS" + bytes([len(spelling), 0]) + spelling in shared.output
    assert "entries" in repr(memo) and not repr(memo).startswith("Memo(<0 ")


def test_one_patients_pseudonym_never_reaches_another_through_the_memo() -> None:
    """GIVEN a memo filled by one patient's slices
    WHEN another patient's slice with the same sequences is cleaned with it
    THEN its output carries its own pseudonym and none of the first patient's."""
    memo = Memo()
    files = interleaved_series()
    first = deidentify_bytes(files[0], keys=KEYS, options=DeidOptions(detect_text=False),
                             memo=memo)
    second = deidentify_bytes(files[1], keys=KEYS, options=DeidOptions(detect_text=False),
                              memo=memo)
    assert first.output is not None and second.output is not None
    first_pseudonym = first.output.split(b"PSN-")[1][:16]
    second_pseudonym = second.output.split(b"PSN-")[1][:16]
    assert first_pseudonym != second_pseudonym
    assert first_pseudonym not in second.output


def test_the_memo_is_bounded_and_shows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo_module, "MAX_ENTRIES", 2)
    memo = Memo()
    for number in range(5):
        memo.put(("key", number), "MRKVALUE7f3a")
    assert memo.get(("key", 0)) == "MRKVALUE7f3a"
    assert memo.get(("key", 4)) is None
    assert "MRK" not in repr(memo)


def test_a_converted_element_is_kept_by_its_plain_value_and_a_number_string_by_its_spelling(
) -> None:
    """GIVEN elements pydicom has converted already (something read them before cleaning)
    THEN plain text and binary numbers are keyed by value (equal values, equal keys), a decimal
    or integer string by its spelling (1.50 and 1.5 compare equal but are written apart), and
    a name not at all."""
    from pydicom.dataelem import DataElement
    from pydicom.valuerep import DSfloat

    memo = Memo()
    rows = memo.key("clean", DataElement(0x00280010, "US", 512), 0)
    assert rows is not None and rows == memo.key("clean", DataElement(0x00280010, "US", 512), 0)
    assert rows != memo.key("clean", DataElement(0x00280010, "US", 256), 0)
    assert rows != memo.key("clean", DataElement(0x00280010, "US", 512), 1)  # another context
    modality = memo.key("clean", DataElement(0x00080060, "CS", "CT"), 0)
    assert modality is not None
    thickness = memo.key("clean", DataElement(0x00180050, "DS", "1.50"), 0)
    assert thickness is not None
    assert thickness == memo.key("clean", DataElement(0x00180050, "DS", "1.50"), 0)
    assert thickness != memo.key("clean", DataElement(0x00180050, "DS", "1.5"), 0)
    window = memo.key("clean", DataElement(0x00281050, "DS", ["40", "400"]), 0)
    assert window is not None
    assert window != memo.key("clean", DataElement(0x00281050, "DS", ["40.0", "400"]), 0)
    number = memo.key("clean", DataElement(0x00200013, "IS", "7"), 0)
    assert number is not None
    assert number != memo.key("clean", DataElement(0x00200013, "IS", "07"), 0)
    # A number pydicom may write in another spelling than it read (auto_format), or made from
    # a float (no spelling kept), is not kept.
    assert memo.key("clean", DataElement(0x00180050, "DS", DSfloat("1.50", auto_format=True)),
                    0) is None
    assert memo.key("clean", DataElement(0x00180050, "DS", DSfloat(1.5)), 0) is None
    assert memo.key("clean", DataElement(0x00100010, "PN", "DOE^JOHN"), 0) is None
