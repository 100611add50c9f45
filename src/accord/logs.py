"""Logging set-up: signing-link tokens never reach a log line."""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"(/s/|/password/reset/)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites uvicorn's access-log arguments (and any message) that carry /s/<token>."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "accord"):
        logging.getLogger(name).addFilter(RedactTokens())
