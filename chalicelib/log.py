"""Structured logging: one JSON object per line, so CloudWatch Logs Insights can query every decision."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

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


def emit(kind: str, **fields: Any) -> dict[str, Any]:
    """Log one structured line and return the record (tests and summaries reuse it)."""
    record = {"kind": kind, **fields}
    line = json.dumps(record, default=str, ensure_ascii=False)
    if len(line) > _MAX_LINE:
        line = json.dumps({"kind": kind, "truncated": True, "head": line[:_MAX_LINE]}, ensure_ascii=False)
    logger.info(line)
    return record
