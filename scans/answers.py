"""The AI's answers: reading them back, showing them safely, deleting them.

An answer is text written by a model outside our control, so it is treated as hostile:

* it is rendered once, when it arrives (``sealed_answer``), and sealed in the vault together with
  its text; pages and the API only read the stored HTML, so a hostile answer costs its render
  once, in the worker, never on each view (answers stored before this carry only their text and
  are rendered on reading, with the same limits);
* it is rendered by markdown-it-py (a CommonMark parser without backtracking) with raw HTML off and
  nesting limited, and only when it is at most ``ANSWER_RENDER_MAX_BYTES``; a longer answer is
  shown as plain text. A 16 KB answer of nested brackets took 8.6 s to render with the former
  parser and a deeply nested one crashed the page and the API;
* links are never links: the text is shown with the address beside it, so a persuasive title
  cannot hide where it leads; images are shown as their text;
* the HTML is then cleaned by nh3 with a small allow-list (no links, images, scripts, styles or
  event handlers);
* the patient's reading is audited only once the page could be made, and at most once per
  ``ANSWER_VIEW_AUDIT_SECONDS`` per answer and reader.
"""

from __future__ import annotations

import html as html_escape
import json
import uuid
from collections.abc import Sequence
from typing import Any

import nh3
from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from markdown_it import MarkdownIt
from markdown_it.token import Token

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
        "span",
    }
)
# Deeper structure than this is rendered as text (markdown-it's own guard against recursion).
MAX_NESTING = 20
DISCLAIMER = gettext_noop(
    "This answer was written by an AI model, not by a doctor. It is not a diagnosis. "
    "Discuss it with your doctor before you act on it."
)


def _link_open(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict) -> str:
    # The address is remembered and written after the link's text, as text.
    env.setdefault("hrefs", []).append(str(tokens[idx].attrGet("href") or ""))
    return ""


def _link_close(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict) -> str:
    href = env["hrefs"].pop() if env.get("hrefs") else ""
    return f' <span class="address">({html_escape.escape(href)})</span>' if href else ""


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "maxNesting": MAX_NESTING, "linkify": False})
    md.disable("image")
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    return md


_MARKDOWN = _parser()


def render_markdown(text: str) -> str:
    """Markdown to HTML that is safe to put in our pages as is (plain text past the size limit)."""
    if len(text.encode("utf-8")) > settings.ANSWER_RENDER_MAX_BYTES:
        return f"<pre>{html_escape.escape(text)}</pre>"
    rendered = _MARKDOWN.render(text, {})
    return nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes={"span": {"class"}},
        url_schemes=set(),
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


def sealed_answer(text: str) -> bytes:
    """What the vault keeps for an answer: its text and the HTML rendered from it, once.

    A render that fails (it should not: the parser is linear and nesting is capped) leaves the
    text shown as plain text rather than losing the answer."""
    try:
        rendered = render_markdown(text)
    except (RecursionError, ValueError):
        rendered = f"<pre>{html_escape.escape(text)}</pre>"
    return json.dumps({"markdown": text, "html": rendered}).encode("utf-8")


def read_answer(answer: Answer) -> dict[str, str]:
    """The answer's text and HTML, decrypted for this response only."""
    if answer.answer_object is None:
        raise Http404("This answer was deleted.")
    try:
        stored = get_vault().read_bytes(answer.answer_object).decode("utf-8")
    except VaultError as exc:
        raise Http404("This answer is no longer available.") from exc
    try:
        document = json.loads(stored)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("html"), str):
        return {"markdown": str(document.get("markdown", "")), "html": document["html"]}
    # An answer stored as bare text (before answers were rendered on arrival).
    return {"markdown": stored, "html": render_markdown(stored)}


def read_markdown(answer: Answer) -> str:
    """The answer's text, decrypted for this response only."""
    return read_answer(answer)["markdown"]


def view_answer(answer: Answer, user: User) -> dict:
    """Everything an answer page or API response shows; records that the patient read it
    (only once it could be shown)."""
    stored = read_answer(answer)
    # One entry per answer and reader per ANSWER_VIEW_AUDIT_SECONDS: reloading a page must not
    # let anyone grow the append-only log without bound.
    window = settings.ANSWER_VIEW_AUDIT_SECONDS
    if window <= 0 or cache.add(f"answer-viewed:{answer.pk}:{user.pk}", 1, timeout=window):
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
        "markdown": stored["markdown"],
        "html": stored["html"],
        "disclaimer": gettext(DISCLAIMER),
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
