"""Structured logging: one JSON object per line, so CloudWatch Logs Insights can query every decision.

Values are logged through chalicelib.text's `safe_text`: JSON escaping alone stops newlines and C0 controls, but
not what a log viewer shows as-is once it decodes the line (bidi overrides, zero-width characters, C1 controls,
U+2028), nor lone surrogates, which cannot be encoded as UTF-8 at all.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from chalicelib.text import safe_text

logger = logging.getLogger("xray_guard")

_MAX_LINE = 64_000  # CloudWatch Logs accepts 256 KiB per event; hostile input must not flood the log


def configure_logging(stream: Any = None) -> None:
    """Send the structured lines, and only them, to stdout (Lambda ships stdout to CloudWatch Logs)."""
    if not logger.handlers:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _inert(value: Any) -> Any:
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(key): _inert(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_inert(item) for item in value]
    return value


def emit(kind: str, **fields: Any) -> dict[str, Any]:
    """Log one structured line and return the record as given (tests and summaries reuse it)."""
    record = {"kind": kind, **fields}
    line = json.dumps(_inert(record), default=safe_text, ensure_ascii=False)
    if len(line) > _MAX_LINE:
        line = json.dumps({"kind": kind, "truncated": True, "head": line[:_MAX_LINE]}, ensure_ascii=False)
    logger.info(line)
    return record
