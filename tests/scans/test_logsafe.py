"""Unexpected errors are logged by type and place, never by their message."""

from scans.logsafe import describe


def test_an_error_is_described_without_its_message():
    def parse_header():
        raise ValueError("Invalid value 'DOE^JANE' for VR PN")

    try:
        parse_header()
    except ValueError as exc:
        text = describe(exc)
    assert text.startswith("ValueError at test_logsafe.py:")
    assert "parse_header" in text
    assert "DOE" not in text and "JANE" not in text
