"""Describing an unexpected error for the log without its message.

Exception messages can quote what was being processed: a header value from pydicom, a
recipient's address from smtplib. Logs carry ids and hashes only, so errors are logged as their
type and where they happened (file, line, function), never as their text.
"""

from __future__ import annotations

import traceback


def describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames)
    )
    return f"{type(exc).__name__} at {where}" if where else type(exc).__name__
