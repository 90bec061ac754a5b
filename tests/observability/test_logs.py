from __future__ import annotations

import json
import logging

from recommender.config import Settings
from recommender.observability.errors import _scrub, init_sentry
from recommender.observability.logs import JsonFormatter, request_id


def test_json_lines_carry_the_request_id_and_extras() -> None:
    record = logging.LogRecord(
        "recommender.x", logging.INFO, __file__, 1, "served %s", ("v1",), None
    )
    record.duration_ms = 1.5
    token = request_id.set("abc123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "served v1" and line["level"] == "info"
    assert line["request_id"] == "abc123" and line["duration_ms"] == 1.5
    assert line["logger"] == "recommender.x" and line["time"].endswith("+00:00")


def test_sentry_is_off_without_a_dsn_and_scrubs_tokens() -> None:
    assert init_sentry(Settings(_env_file=None), component="api") is False
    event = {"request": {"headers": {"Authorization": "Bearer secret", "Accept": "json"}}}
    scrubbed = _scrub(event, {})
    assert scrubbed["request"]["headers"] == {"Authorization": "[removed]", "Accept": "json"}
