"""The auditor's filters, parsed once for the pages, the exports and the API alike.

Every value is checked against the shapes ``audit.log`` allows in the log, so a filter can
never be a way to smuggle free text into a query, a page or the ``audit.exported`` entry.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django import forms

from audit import log
from audit.reading import EventFilter

# "consent." or "consent" asks for the whole family; "consent.given" for one action.
ACTION_FAMILY = re.compile(r"[a-z][a-z_]{0,30}(\.[a-z][a-z_]{0,30}){0,2}\.?")


def parse_instant(text: str, *, end_of_day: bool) -> datetime:
    """A date (YYYY-MM-DD, as a date picker sends it) or an ISO 8601 time, in UTC.

    A bare date in ``until`` means "up to and including that day", which is what a person who
    picks 1 May as the last day expects; a full time is taken as given (exclusive).
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time.min, tzinfo=UTC)
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise forms.ValidationError("Use a date (YYYY-MM-DD) or an ISO 8601 time.") from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _shaped(value: str, pattern: re.Pattern[str], message: str) -> str | None:
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise forms.ValidationError(message)
    return value


class EventFilterForm(forms.Form):
    since = forms.CharField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.CharField(
        required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    # 40: the longest value an audit detail may hold, and the export records its filter.
    action = forms.CharField(
        required=False, max_length=40, help_text='One action, or a family such as "consent."'
    )
    actor = forms.CharField(required=False, max_length=48, help_text="A pseudonym such as u-3f2a…")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    outcome = forms.CharField(required=False, max_length=40)

    def clean_since(self) -> datetime | None:
        value = self.cleaned_data["since"]
        return parse_instant(value, end_of_day=False) if value else None

    def clean_until(self) -> datetime | None:
        value = self.cleaned_data["until"]
        return parse_instant(value, end_of_day=True) if value else None

    def clean_action(self) -> str | None:
        action = _shaped(
            self.cleaned_data["action"].lower(), ACTION_FAMILY, "Not an action or action family."
        )
        if action and "." not in action:
            action += "."
        return action

    def clean_actor(self) -> str | None:
        return _shaped(self.cleaned_data["actor"].lower(), log.ACTOR, "Not a pseudonym.")

    def clean_object_id(self) -> str | None:
        return _shaped(self.cleaned_data["object_id"].lower(), log.IDENTIFIER, "Not an id.")

    def clean_outcome(self) -> str | None:
        return _shaped(self.cleaned_data["outcome"].lower(), log.ENUM_VALUE, "Not an outcome.")

    def event_filter(self) -> EventFilter:
        """The filter; call only after ``is_valid()`` returned True."""
        return EventFilter(**self.cleaned_data)

    def first_error(self) -> str:
        field, errors = next(iter(self.errors.items()))
        return f"{field}: {errors[0]}"


class TrailForm(forms.Form):
    id = forms.CharField(
        max_length=64, label="Scan, consent or answer id", help_text="As shown in the events list."
    )

    def clean_id(self) -> str:
        value = self.cleaned_data["id"].lower()
        if not log.IDENTIFIER.fullmatch(value):
            raise forms.ValidationError("Not an id.")
        return value
