"""The one base class for refusals that a person reads: a sentence they can act on and a status.

Services raise a subclass (an upload refused, a consent step refused, an account that cannot be
erased now ...); pages turn it into a page or a message through ``scans.refusals`` and the API
into ``{"detail": ...}`` through the handler in ``gateway.api``. Nothing else translates them.
A plain library (no Django), so the intake checks can raise it too.
"""

from __future__ import annotations

from typing import Any


class UserFacingError(Exception):
    """A refusal. ``message`` is written for the person who asked (it never quotes their files
    or data); ``status`` is the HTTP status that fits."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def as_json(self) -> dict[str, Any]:
        """The API's error body."""
        return {"detail": self.message}
