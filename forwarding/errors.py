"""The one family of errors forwarding raises, so the sender can catch them in one place.

``str(exc)`` is written for logs and administrators and never contains patient data (no image
bytes, question, answer or API key); ``patient_message`` is written for the patient's answer
page: an English sentence without values, marked with ``gettext_noop`` so ``makemessages``
collects it; it is stored as it is and translated where it is shown
(``scans.wording.scan_message``), in the reader's language.
"""

from __future__ import annotations


def gettext_noop(message: str) -> str:
    """Marks ``message`` for the catalogues (forwarding is a plain library, without Django)."""
    return message


class ForwardingError(Exception):
    """A question could not be delivered, or its answer could not be read."""

    def __init__(self, reason: str, patient_message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.patient_message = patient_message
