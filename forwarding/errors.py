"""The one family of errors forwarding raises, so the sender can catch them in one place.

``str(exc)`` is written for logs and administrators and never contains patient data (no image
bytes, question, answer or API key); ``patient_message`` is written for the patient's answer page.
"""

from __future__ import annotations


class ForwardingError(Exception):
    """A question could not be delivered, or its answer could not be read."""

    def __init__(self, reason: str, patient_message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.patient_message = patient_message
