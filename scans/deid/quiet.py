"""Keeping file values out of every log line, warning and error message a library writes.

pydicom quotes the values it reads when it finds them invalid ("Invalid value for VR UI:
'<the original UID>'"), through its logger *and* through Python ``warnings``. Setting the
``pydicom`` logger's level in Django's LOGGING is not enough: importing pydicom afterwards
resets it to WARNING, ``pydicom.config.debug()`` resets it again, its child loggers
(``pydicom.pixels...``) are created lazily, and warnings reach stderr without any logger.

``keep_values_out_of_logs`` closes each path in a way none of those can undo:

1. pydicom's value validation is switched off for reading and writing (``IGNORE``), so the
   messages that quote values are not even built. Values are still checked where it matters:
   the header cleaner and the verifier decide what leaves, not pydicom's warnings.
2. A log record factory (process-wide; Django's dictConfig, Celery's root-logger set-up and
   pydicom's ``debug()`` replace handlers and levels, never the factory) rewrites every record
   of a ``pydicom*`` logger and of ``py.warnings`` to a fixed text naming only where it came
   from. Logger levels and handlers no longer matter for privacy.
3. Python warnings are routed into logging (``logging.captureWarnings``), so they meet the same
   factory, and pydicom's own warnings are ignored outright, so a host that turns capture off
   again still prints nothing of them.

Idempotent and cheap: call it from any process that may read a DICOM file. The engine package
calls it on import; Django's LOGGING attaches ``WithheldText`` (which calls it too).
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

import pydicom.config

# Loggers whose messages may quote what was being read.
QUOTING_LOGGERS = ("pydicom",)
WARNINGS_LOGGER = "py.warnings"
# ``warnings.formatwarning``: "path:line: Category: text\n  source line".
_WARNING_HEAD = re.compile(r"^(?P<path>.*?):(?P<line>\d+): (?P<category>\w+):")

_installed = False


def keep_values_out_of_logs() -> None:
    """Install the guards described in the module docstring (once per process)."""
    global _installed
    settings = pydicom.config.settings
    settings.reading_validation_mode = pydicom.config.IGNORE
    settings.writing_validation_mode = pydicom.config.IGNORE
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    for name in QUOTING_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return withhold_text(previous(*args, **kwargs))

    logging.setLogRecordFactory(make_record)
    _installed = True


def withhold_text(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its text replaced when it comes from a logger that may quote values.

    A pydicom record keeps its level and logger name; a captured warning keeps its category
    and the file and line that raised it. Exception text and stack are dropped with the text.
    """
    if getattr(record, "text_withheld", False):
        return record
    if record.name == WARNINGS_LOGGER:
        # logging's warning hook passes the formatted warning as the message (older Pythons
        # as the one argument of "%s").
        args = record.args
        text = str(args[0]) if isinstance(args, tuple) and args else str(record.msg)
        head = _WARNING_HEAD.match(text)
        where = (
            f"{head['category']} at {head['path'].rsplit('/', 1)[-1]}:{head['line']}"
            if head
            else "a warning"
        )
        _replace(record, f"{where} (text withheld: it can quote file values)")
    elif any(record.name == n or record.name.startswith(n + ".") for n in QUOTING_LOGGERS):
        _replace(record, "message withheld (it can quote file values)")
    return record


def _replace(record: logging.LogRecord, text: str) -> None:
    record.msg, record.args = text, ()
    record.text_withheld = True
    record.exc_info, record.exc_text, record.stack_info = None, None, None


class WithheldText(logging.Filter):
    """For LOGGING's ``pydicom`` and ``py.warnings`` loggers: installs the guards when logging
    is configured (so every Django process has them before any file is read), and rewrites
    whatever reaches the logger, in case a record was made before they were installed."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        keep_values_out_of_logs()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == WARNINGS_LOGGER or record.name.startswith("pydicom"):
            withhold_text(record)
        return True
