"""The auditor's filters, parsed once for the pages, the exports and the API alike.

Every value is checked against the shapes ``audit.log`` allows in the log, so a filter can
never be a way to smuggle free text into a query, a page or the ``audit.exported`` entry.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from audit import log
from audit.actions import AuditAction, families
from audit.models import AuditEntry
from audit.presenting import action_label, family_label

if TYPE_CHECKING:  # the type checker's name for a string or a lazy translation
    from django_stubs_ext import StrOrPromise
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
        raise forms.ValidationError(_("Use a date (YYYY-MM-DD) or an ISO 8601 time.")) from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _shaped(value: str, pattern: re.Pattern[str], message: StrOrPromise) -> str | None:
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise forms.ValidationError(message)
    return value


def action_choices() -> list[tuple[str, object]]:
    """The action list of the filter, generated from ``AuditAction``: a new action appears here
    the day it is added to the code. Each family can be chosen whole ("consent." = every
    consent action)."""
    choices: list[tuple[str, object]] = [("", _("Any action"))]
    for family in families():
        members = [
            (a.value, _lazy_action_choice(a.value)) for a in AuditAction if a.family == family
        ]
        choices.append((family, [(f"{family}.", _lazy_family_label(family)), *members]))
    return choices


def _action_choice(action: str) -> str:
    """The action's label and, in brackets, its name (what the log, exports and API use)."""
    label = action_label(action)
    return f"{label} ({action})" if label else action


# The list is built once at import; each label is worded when a page shows it.
_lazy_action_choice = lazy(_action_choice, str)
_lazy_family_label = lazy(family_label, str)


def outcome_choices(current: str | None) -> list[tuple[str, StrOrPromise]]:
    """The outcomes the log holds (plus the one asked for), so an outcome is picked, not typed."""
    seen = (
        AuditEntry.objects.filter(details__has_key="outcome")
        .values_list("details__outcome", flat=True)
        .distinct()
    )
    values = {value for value in seen if isinstance(value, str)}
    if current:
        values.add(current)
    return [("", _("Any outcome")), *((value, value) for value in sorted(values))]


# The log is kept in UTC; a date picked here is a UTC day, whatever the browser's own zone.
UTC_DAY_HELP = _("A day in UTC (00:00 to 24:00 UTC), like every time in the audit area.")


class EventFilterForm(forms.Form):
    since = forms.CharField(
        required=False,
        label=_("From (UTC date)"),
        help_text=UTC_DAY_HELP,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.CharField(
        required=False,
        label=_("To, inclusive (UTC date)"),
        help_text=UTC_DAY_HELP,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    # 40: the longest value an audit detail may hold, and the export records its filter. The
    # API takes the same field as text (any well-formed action, so older entries stay findable).
    action = forms.CharField(
        required=False,
        max_length=40,
        label=_("Action"),
        help_text=_("One action, or every action of a family."),
        widget=forms.Select(choices=action_choices()),
    )
    actor = forms.CharField(
        required=False,
        max_length=48,
        label=_("Actor"),
        help_text=_("A pseudonym such as u-3f2a…"),
    )
    object_id = forms.CharField(required=False, max_length=64, label=_("Object id"))
    outcome = forms.CharField(
        required=False, max_length=40, label=_("Outcome"), widget=forms.Select()
    )

    def offer_outcomes(self) -> EventFilterForm:
        """Fill the outcome list from the log, for a page (the API and exports skip the query)."""
        current = self.data.get("outcome") if self.is_bound else None
        widget = self.fields["outcome"].widget
        if isinstance(widget, forms.Select):
            widget.choices = outcome_choices(current if isinstance(current, str) else None)
        return self

    def clean_since(self) -> datetime | None:
        value = self.cleaned_data["since"]
        return parse_instant(value, end_of_day=False) if value else None

    def clean_until(self) -> datetime | None:
        value = self.cleaned_data["until"]
        return parse_instant(value, end_of_day=True) if value else None

    def clean_action(self) -> str | None:
        action = _shaped(
            self.cleaned_data["action"].lower(), ACTION_FAMILY, _("Not an action or action family.")
        )
        if action and "." not in action:
            action += "."
        return action

    def clean_actor(self) -> str | None:
        return _shaped(self.cleaned_data["actor"].lower(), log.ACTOR, _("Not a pseudonym."))

    def clean_object_id(self) -> str | None:
        return _shaped(self.cleaned_data["object_id"].lower(), log.IDENTIFIER, _("Not an id."))

    def clean_outcome(self) -> str | None:
        return _shaped(self.cleaned_data["outcome"].lower(), log.ENUM_VALUE, _("Not an outcome."))

    def event_filter(self) -> EventFilter:
        """The filter; call only after ``is_valid()`` returned True."""
        return EventFilter(**self.cleaned_data)

    def first_error(self) -> str:
        field, errors = next(iter(self.errors.items()))
        return f"{field}: {errors[0]}"


class TrailForm(forms.Form):
    id = forms.CharField(
        max_length=64,
        label=_("Scan, consent or answer id"),
        help_text=_("As shown in the events list."),
    )

    def clean_id(self) -> str:
        value = self.cleaned_data["id"].lower()
        if not log.IDENTIFIER.fullmatch(value):
            raise forms.ValidationError(_("Not an id."))
        return value
