"""The AI's answers: reading them back, showing them safely, deleting them.

An answer is text written by a model outside our control, so it is treated as hostile: raw HTML
in it is never passed through (the Markdown renderer's HTML handling is switched off, so it is
shown as text), and the rendered HTML is then cleaned by nh3 with a small allow-list: no
images (they would load from anywhere), no scripts, no styles, no event handlers, links only
to http(s) and opened without a referrer.
"""

from __future__ import annotations

import uuid

import markdown
import nh3
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from audit import log as audit
from audit.actions import AuditAction
from scans.models import Answer, Scan, Status
from vault import VaultError, get_vault

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "em",
        "strong",
        "ul",
        "ol",
        "li",
        "code",
        "pre",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "a",
    }
)
ALLOWED_ATTRIBUTES = {"a": frozenset({"href", "title"})}
ALLOWED_URL_SCHEMES = frozenset({"http", "https"})
DISCLAIMER = (
    "This answer was written by an AI model, not by a doctor. It is not a diagnosis. "
    "Discuss it with your doctor before you act on it."
)


class _NoRawHtml(markdown.Extension):
    """Treat HTML written in the Markdown as text instead of passing it through."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def render_markdown(text: str) -> str:
    """Markdown to HTML that is safe to put in our pages as is."""
    html = markdown.markdown(text, extensions=[_NoRawHtml(), "fenced_code", "sane_lists"])
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def answers_of(user: User, scan: Scan | None = None) -> QuerySet[Answer]:
    """The user's answers that still exist (newest first), optionally for one scan."""
    answers = (
        Answer.objects.filter(scan__owner=user, deleted_at__isnull=True)
        .exclude(scan__status=Status.DELETED)
        .select_related("consent")
    )
    return answers if scan is None else answers.filter(scan=scan)


def answer_of(user: User, answer_id: uuid.UUID | str) -> Answer:
    answer = answers_of(user).filter(pk=answer_id).first()
    if answer is None:
        raise Http404("No such answer.")
    return answer


def read_markdown(answer: Answer) -> str:
    """The answer's text, decrypted for this response only."""
    if answer.answer_object is None:
        raise Http404("This answer was deleted.")
    try:
        return get_vault().read_bytes(answer.answer_object).decode("utf-8")
    except VaultError as exc:
        raise Http404("This answer is no longer available.") from exc


def view_answer(answer: Answer, user: User) -> dict:
    """Everything an answer page or API response shows; records that the patient read it."""
    text = read_markdown(answer)
    audit.append(
        AuditAction.ANSWER_VIEWED,
        actor=user.pseudonym,
        object_type="answer",
        object_id=str(answer.pk),
        details={"scan_id": str(answer.scan_id), "consent_id": str(answer.consent_id)},
    )
    return {
        "id": answer.pk,
        "consent_id": answer.consent_id,
        "scan_id": answer.scan_id,
        "endpoint": answer.endpoint_name,
        "model": answer.model,
        "created_at": answer.created_at,
        "markdown": text,
        "html": render_markdown(text),
        "disclaimer": DISCLAIMER,
    }


def delete_answer(answer: Answer, user: User) -> None:
    """Crypto-shred the answer's text; the row stays (without it) so the history still adds up."""
    object_id = answer.answer_object
    if object_id is not None:
        get_vault().shred(object_id)
    Answer.objects.filter(pk=answer.pk).update(answer_object=None, deleted_at=timezone.now())
    audit.append(
        AuditAction.ANSWER_DELETED,
        actor=user.pseudonym,
        object_type="answer",
        object_id=str(answer.pk),
        details={"scan_id": str(answer.scan_id), "consent_id": str(answer.consent_id)},
    )
