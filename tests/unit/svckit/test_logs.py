"""The JSON log line: valid JSON, the fixed fields, extras in order, errors with their trace."""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime
from typing import Any

from svckit.logs import JsonFormatter


def _line(formatter: JsonFormatter, record: logging.LogRecord) -> dict[str, object]:
    text = formatter.format(record)
    assert "\n" not in text  # one line per record, whatever the message holds
    parsed: dict[str, object] = json.loads(text)
    return parsed


def _record(
    msg: str, extra: dict[str, object] | None = None, exc_info: Any = None
) -> logging.LogRecord:
    logger = logging.getLogger("test.logs")
    return logger.makeRecord(logger.name, logging.INFO, "", 0, msg, (), exc_info, extra=extra)


def test_a_call_line_has_the_fixed_fields_then_the_extras_in_order():
    extra = {"method": "/blog.articles.v1.ArticleService/GetArticle", "code": "OK"}
    line = _line(JsonFormatter("articles"), _record("call", {**extra, "duration_ms": 1.25}))
    assert list(line) == ["ts", "level", "service", "pid", "msg", "method", "code", "duration_ms"]
    assert (line["level"], line["service"], line["pid"], line["msg"]) == (
        "info",
        "articles",
        os.getpid(),
        "call",
    )
    assert line["duration_ms"] == 1.25
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(line["ts"]))
    assert abs(datetime.fromisoformat(str(line["ts"])).timestamp() - _record("x").created) < 5


def test_awkward_text_and_values_stay_valid_json():
    extra = {
        "who": 'quote " backslash \\ newline \n é \u2028',
        "n": 3,
        "ok": True,
        "none": None,
        "items": [1, "two"],
        "obj": object(),
    }
    line = _line(JsonFormatter('svc "x"'), _record('msg "with" quotes\n', extra))
    assert line["who"] == extra["who"]
    assert (line["n"], line["ok"], line["none"], line["items"]) == (3, True, None, [1, "two"])
    assert str(line["obj"]).startswith("<object object")
    assert (line["service"], line["msg"]) == ('svc "x"', 'msg "with" quotes\n')


def test_an_exception_is_one_field_with_its_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed", {"method": "m"}, exc_info=sys.exc_info())
    line = _line(JsonFormatter("auth"), record)
    assert "ValueError: boom" in str(line["exc"])
    assert line["method"] == "m"
