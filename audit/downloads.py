"""Exports of the filtered log as file downloads, each one recorded in the log it exports.

The file is streamed in batches, so exporting the whole log never holds it in memory, and it is
cut at the newest entry that existed when the export was asked for: the row count recorded in
``audit.exported`` is exactly the number of rows in the file, and the export never contains
its own record.

CSV is sent without a byte-order mark: ``append()`` admits only ASCII ids, hashes and enums,
so every spreadsheet reads the file the same way with or without one, while a BOM would end up
as part of the first column name in scripts (Python's csv, pandas, awk) that read it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Max, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from audit.actions import AuditAction
from audit.export import export_csv, export_fhir, export_jsonl
from audit.log import append
from audit.models import AuditEntry
from audit.reading import EventFilter, matching_events

BATCH_SIZE = 1000


@dataclass(frozen=True)
class ExportFormat:
    content_type: str
    extension: str


FORMATS = {
    "csv": ExportFormat("text/csv; charset=utf-8", "csv"),
    "jsonl": ExportFormat("application/jsonl; charset=utf-8", "jsonl"),
    # FHIR R4 §3.1.0.1.7 (http.html#mime-type): the fhirVersion parameter names the release.
    "fhir": ExportFormat("application/fhir+json; fhirVersion=4.0", "fhir.json"),
}


def _batches(qs: QuerySet[AuditEntry]) -> Iterator[list[AuditEntry]]:
    """Keyset pagination on seq: no server-side cursor held open while the client downloads."""
    last = -1
    while batch := list(qs.filter(seq__gt=last).order_by("seq")[:BATCH_SIZE]):
        yield batch
        last = batch[-1].seq


def _csv(qs: QuerySet[AuditEntry], rows: int) -> Iterator[str]:
    out = io.StringIO(newline="")
    export_csv([], out)
    header = out.getvalue()
    yield header
    for batch in _batches(qs):
        out = io.StringIO(newline="")
        export_csv(batch, out)
        yield out.getvalue()[len(header) :]  # export_csv starts every call with the header


def _jsonl(qs: QuerySet[AuditEntry], rows: int) -> Iterator[str]:
    for batch in _batches(qs):
        out = io.StringIO()
        export_jsonl(batch, out)
        yield out.getvalue()


def _fhir(qs: QuerySet[AuditEntry], rows: int) -> Iterator[str]:
    """The Bundle export_fhir() builds, written out one batch of resources at a time."""
    envelope = {key: value for key, value in export_fhir([]).items() if key != "entry"}
    if rows == 0:
        # FHIR JSON (R4 json.html): an array may not be empty, so an empty Bundle has no "entry".
        yield json.dumps(envelope)
        return
    yield json.dumps(envelope)[:-1] + ', "entry": ['
    separator = ""
    for batch in _batches(qs):
        for item in export_fhir(batch)["entry"]:
            yield separator + json.dumps(item)
            separator = ", "
    yield "]}"


WRITERS = {"csv": _csv, "jsonl": _jsonl, "fhir": _fhir}


def export_download(f: EventFilter, fmt: str, *, actor: str) -> StreamingHttpResponse:
    """Record ``audit.exported`` (format, row count, filter), then stream the file.

    The record is written before any row leaves, so a failed download is still on record rather
    than an unrecorded export ever being possible.
    """
    kind = FORMATS[fmt]
    through = AuditEntry.objects.aggregate(last=Max("seq"))["last"]
    qs = matching_events(f)
    qs = qs.none() if through is None else qs.filter(seq__lte=through)
    rows = qs.count()
    append(
        AuditAction.AUDIT_EXPORTED,
        actor=actor,
        details={"format": fmt, "rows": rows, "through_seq": through, **f.as_details()},
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    body = (chunk.encode("utf-8") for chunk in WRITERS[fmt](qs, rows))
    response = StreamingHttpResponse(body, content_type=kind.content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"audit-log-{stamp}.{kind.extension}"
    )
    response["Cache-Control"] = "no-store"
    return response
