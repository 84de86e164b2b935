"""check_total enforces how many files, and how many bytes, one upload may hold."""

import itertools

import pytest

from scans.intake import IntakeLimits, IntakeRejected, check_total

LIMITS = IntakeLimits(max_files=3, max_total_bytes=1000)


def test_it_accepts_an_upload_within_both_limits():
    check_total([400, 300, 300], LIMITS)


def test_it_rejects_more_files_than_allowed_without_reading_every_size():
    with pytest.raises(IntakeRejected) as caught:
        check_total(itertools.repeat(1), LIMITS)
    assert (caught.value.status, caught.value.message) == (
        413,
        "You chose more than 3 files; please upload at most 3 files at a time.",
    )


def test_it_rejects_files_that_add_up_to_more_than_the_total():
    with pytest.raises(IntakeRejected) as caught:
        check_total([600, 401], LIMITS)
    assert (caught.value.status, caught.value.message) == (
        413,
        "Your files add up to more than 1,000 bytes; please upload them in smaller batches.",
    )


def test_it_states_the_default_total_in_gigabytes():
    with pytest.raises(IntakeRejected) as caught:
        check_total([2 * 1024**3, 1], IntakeLimits())
    assert caught.value.message == (
        "Your files add up to more than 2 GB; please upload them in smaller batches."
    )


def test_it_rejects_an_upload_with_no_files():
    with pytest.raises(IntakeRejected) as caught:
        check_total([], LIMITS)
    assert (caught.value.status, caught.value.message) == (
        400,
        "Please choose at least one file to upload.",
    )
