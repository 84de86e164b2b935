"""Template filters of the auditor and clinic pages."""

from __future__ import annotations

from django import template

from audit.presenting import verdict_reason as reason_in_words

register = template.Library()


@register.filter
def verdict_reason(reason: str) -> str:
    """A verification verdict's reason, in the reader's language."""
    return reason_in_words(reason)
