"""Whatever bytes reach it, the de-identifier answers in bounded time with one of its three
outcomes, and a 'clean' answer never carries a planted identifier.

End to end through ``deidentify_bytes`` (parse, pixels, header, write, verify), on mutated valid
files and on random bytes. Each example runs on a helper thread with a time limit, so a hang
fails the test instead of stalling the suite.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from scans.deid.engine import DeidKeys, DeidOptions, FileResult, deidentify_bytes
from tests.support import builders

# pydicom warns about every malformed value it meets in random bytes; that is the point here.
pytestmark = [pytest.mark.faults, pytest.mark.filterwarnings("ignore::UserWarning")]

KEYS = DeidKeys(b"\x42" * 32)
OPTIONS = DeidOptions()
MARKER = "MRKFUZZ7q3"
SECONDS_PER_EXAMPLE = 20
SEEDS = [
    builders.make_dicom_bytes(
        PatientName=f"{MARKER}^Fuzz",
        PatientID=MARKER,
        InstitutionName=f"{MARKER} Hospital",
        StudyInstanceUID=generate_uid(),
    ),
    builders.make_dicom_without_preamble(PatientName=f"{MARKER}^Bare", PatientID=MARKER),
    builders.make_deflated_dicom(),
    builders.make_png(32, 32),
    builders.make_jpeg(32, 32),
]
FUZZ = settings(
    max_examples=60,
    deadline=None,  # the time limit is enforced per example below, hangs included
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deid-fuzz")


def deidentify_within_limit(data: bytes) -> FileResult:
    # The marker is also given as a value the uploader named, so it stays an identifier even
    # when a mutation moves it out of the attribute that made it one.
    future = _runner.submit(
        deidentify_bytes, data, keys=KEYS, options=OPTIONS, extra_identifiers=[MARKER]
    )
    try:
        return future.result(timeout=SECONDS_PER_EXAMPLE)
    except FutureTimeout:
        pytest.fail(f"deidentify_bytes ran for over {SECONDS_PER_EXAMPLE}s on {len(data)} bytes")


def assert_sound(result: FileResult) -> None:
    # not_image: a file cut before its pixel data is an image record without a picture.
    assert result.outcome in ("clean", "quarantined", "rejected", "not_image")
    if result.outcome != "clean":
        assert result.output is None
        return
    assert result.output is not None
    folded = result.output.lower()
    for needle in (MARKER.lower().encode(), MARKER.lower().encode("utf-16-le")):
        assert needle not in folded


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=12),
    st.integers(min_value=0),
)
def test_mutated_valid_files_never_come_out_with_the_marker(
    seed, flips, cut
):
    data = bytearray(seed)
    for offset, value in flips:
        data[offset % len(data)] = value
    assert_sound(deidentify_within_limit(bytes(data[: max(1, cut % (len(data) + 1))])))


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_make_the_deidentifier_raise_or_hang(data):
    assert_sound(deidentify_within_limit(data))


@FUZZ
@given(st.binary(max_size=512), st.integers(1, 64))
def test_random_bytes_behind_a_dicom_preamble_never_make_it_raise_or_hang(body, repeat):
    assert_sound(deidentify_within_limit(bytes(128) + b"DICM" + body * repeat))
