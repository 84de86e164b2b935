"""Logs as one JSON object per line on stdout (``LOG_FORMAT=json``), under the same rule as the
plain format: ids and hashes only.

The message is the one the code wrote (it already formats ids and hashes only). What a
formatter would add on its own is kept to the same rule: an exception is written as its type
and where it happened (``scans.logsafe.describe``), never as its text, which can quote a header
value or an address; Celery's "task raised" line has its exception text replaced the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from scans.logsafe import describe

FIELDS = frozenset({"time", "level", "logger", "message", "process", "error"})


class JsonFormatter(_JsonFormatter):
    """``{"time", "level", "logger", "message", "process"}`` plus ``error`` for exceptions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "{asctime}{levelname}{name}{message}{process}")
        kwargs.setdefault("style", "{")
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)

    def formatException(self, ei: Any) -> str:
        return describe(ei[1]) if ei and ei[1] is not None else ""

    def formatStack(self, stack_info: str) -> str:
        return ""

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        if "exc_info" in log_record:
            log_record["error"] = log_record.pop("exc_info")
        # Only these fields: a library's ``extra`` (Celery adds a task's arguments and result)
        # is not written, as the plain format never wrote it.
        for key in list(log_record):
            if key not in FIELDS:
                del log_record[key]


class HideExceptionText(logging.Filter):
    """For Celery's task trace logger: its "Task x raised unexpected: ValueError('...')" line
    interpolates the exception's text; keep its type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict) and "exc" in args:
            error = record.exc_info[1] if record.exc_info else None
            exc = args["exc"]
            kind = type(error if error is not None else exc).__name__
            record.args = {**args, "exc": kind if kind != "str" else "error"}
        return True


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """Django's LOGGING for ``fmt`` "plain" (make run, tests) or "json" (containers)."""
    formatter = (
        {"()": "gateway.jsonlog.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "filters": {
            "no_exception_text": {"()": "gateway.jsonlog.HideExceptionText"},
            # Installs the guards of scans.deid.quiet as logging is configured, in every process.
            "withheld_text": {"()": "scans.deid.quiet.WithheldText"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["no_exception_text"],
                "stream": "ext://sys.stdout" if fmt == "json" else "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's request logger prints the path of failed requests; ids in paths are
            # random UUIDs.
            "django.request": {"level": "ERROR"},
            # pydicom's messages and Python warnings can quote header values: their text is
            # withheld (scans.deid.quiet), whatever level or handler a library sets later.
            "pydicom": {"level": "ERROR", "filters": ["withheld_text"]},
            "py.warnings": {"filters": ["withheld_text"]},
        },
    }


def gunicorn_logconfig() -> dict[str, Any]:
    """gunicorn's own loggers (errors and the access log) through the same JSON formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "gateway.jsonlog.JsonFormatter"}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json",
                       "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stdout"], "level": "INFO"},
    }
