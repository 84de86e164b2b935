"""Refusals of a consent step, written for the patient."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.utils.translation import gettext

from scans.errors import UserFacingError


class ConsentError(UserFacingError):
    """A consent step refused; ``message`` is written for the patient, ``status`` for HTTP."""

    code = "consent_refused"

    def __init__(self, message: str, status: int = 400, warnings: Sequence[str] = ()) -> None:
        super().__init__(message, status)
        self.warnings = list(warnings)

    def as_json(self, translate: Callable[[str], str] = str) -> dict[str, Any]:
        return {**super().as_json(translate), "warnings": self.warnings}


class QuestionNeedsConfirmation(ConsentError):
    """The question looks like it holds identifying details; the patient must edit or confirm."""

    def __init__(self, warnings: Sequence[str]) -> None:
        super().__init__(
            gettext(
                "Your question may contain details that identify you: %(found)s. Edit the "
                "question, or confirm that you want to send it as it is."
            )
            % {"found": "; ".join(gettext(kind) for kind in warnings)},
            status=409,
            warnings=warnings,
        )


class WithdrawalRefused(UserFacingError):
    """The consent can no longer be withdrawn (sending has started, or it has ended)."""

    code = "withdrawal_refused"
    status = 409
