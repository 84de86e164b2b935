"""Whatever bytes arrive, intake answers with a result or an IntakeRejected, nothing else."""

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scans.intake import IntakeLimits, IntakeRejected, check_file
from tests.support import builders

LIMITS = IntakeLimits()
SEEDS = [
    builders.make_dicom_bytes(),
    builders.make_dicom_without_preamble(),
    builders.make_png(),
    builders.make_jpeg(),
    builders.make_zip({"a/b.dcm": builders.make_dicom_bytes(), "c.png": builders.make_png()}),
]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_or_reject(data: bytes) -> None:
    try:
        check_file(io.BytesIO(data), 1, LIMITS)
    except IntakeRejected as rejected:
        assert rejected.status in (400, 413, 415)
        assert rejected.message.startswith("File 1")


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise_anything_but_intake_rejected(data):
    check_or_reject(data)


@FUZZ
@given(st.binary(max_size=4), st.binary(max_size=4))
def test_random_bytes_behind_each_magic_number_never_raise_anything_else(prefix, rest):
    for magic in (b"PK\x03\x04", b"PK\x05\x06", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"):
        check_or_reject(magic + prefix + rest * 100)
    check_or_reject(bytes(128) + b"DICM" + prefix + rest * 100)


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    st.integers(min_value=0),
)
def test_mutated_valid_files_never_raise_anything_but_intake_rejected(seed, flips, cut):
    data = bytearray(seed)
    for offset, value in flips:
        data[offset % len(data)] = value
    check_or_reject(bytes(data[: max(1, cut % (len(data) + 1))]))
