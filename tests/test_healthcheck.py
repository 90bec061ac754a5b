"""The container health probes against canned /health answers and absent services."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from recommender.config import Settings
from recommender.databus import status
from recommender.healthcheck import (
    SCHEDULE_STALE_S,
    health_url,
    main,
    probe_api,
    probe_scheduler,
    probe_subscriber,
    probe_worker,
)
from recommender.store.database import Database
from recommender.store.schema import utcnow


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


class Answers:
    status = 200
    body = b""


def handler_for(answers: Answers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answers.status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(answers.body)

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[int, Answers]]:
    answers = Answers()
    httpd = HTTPServer(("127.0.0.1", 0), handler_for(answers))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], answers
    httpd.shutdown()
    httpd.server_close()


def tree(**parts: str) -> bytes:
    return json.dumps({"components": {k: {"status": v} for k, v in parts.items()}}).encode()


def test_a_wildcard_bind_is_probed_on_loopback() -> None:
    assert health_url(settings(host="0.0.0.0", port=8000)) == "http://127.0.0.1:8000/health"
    assert health_url(settings(host="::", port=8000)) == "http://127.0.0.1:8000/health"
    assert health_url(settings(host="::1", port=81)) == "http://[::1]:81/health"
    assert health_url(settings(host="10.1.2.3", port=81)) == "http://10.1.2.3:81/health"


def test_a_ready_server_is_alive_and_ready(server: tuple[int, Answers]) -> None:
    port, answers = server
    answers.status, answers.body = 200, tree(database="ok", catalog="ok")
    for ready in (False, True):
        healthy, message = probe_api(settings(port=port), ready=ready)
        assert healthy, message
    assert "database ok, catalog ok" in message


def test_a_server_without_catalogue_is_alive_but_not_ready(server: tuple[int, Answers]) -> None:
    port, answers = server
    answers.status, answers.body = 503, tree(database="ok", catalog="empty")
    assert probe_api(settings(port=port), ready=False)[0]
    healthy, message = probe_api(settings(port=port), ready=True)
    assert not healthy
    assert "503" in message and "catalog empty" in message


def test_an_answer_without_a_health_tree_is_unhealthy(server: tuple[int, Answers]) -> None:
    port, answers = server
    answers.status, answers.body = 502, b"<html>bad gateway</html>"
    healthy, message = probe_api(settings(port=port), ready=False)
    assert not healthy
    assert "without a health tree" in message


def test_no_server_is_unhealthy() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    healthy, message = probe_api(settings(port=port), ready=False)
    assert not healthy
    assert f"127.0.0.1:{port}" in message


def test_a_worker_needs_a_broker() -> None:
    healthy, message = probe_worker(settings(redis_url=None))
    assert not healthy
    assert "REDIS_URL" in message


def test_main_reports_through_its_exit_status(
    server: tuple[int, Answers], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port, answers = server
    answers.status, answers.body = 503, tree(catalog="empty")
    monkeypatch.setattr("recommender.healthcheck.get_settings", lambda: settings(port=port))
    assert main(["api"]) == 0
    assert main(["api", "--ready"]) == 1
    assert "catalog empty" in capsys.readouterr().out


def test_the_scheduler_is_healthy_while_it_saves_its_schedule(tmp_path: Path) -> None:
    schedule = tmp_path / "celerybeat-schedule"
    healthy, message = probe_scheduler(str(schedule))
    assert not healthy and "has not run" in message
    (tmp_path / "celerybeat-schedule.db").write_bytes(b"")  # dbm may add a suffix
    assert probe_scheduler(str(schedule))[0]
    later = time.time() + SCHEDULE_STALE_S + 1
    healthy, message = probe_scheduler(str(schedule), now=later)
    assert not healthy and "last saved" in message


def test_the_subscriber_is_healthy_while_it_reports(db: Database) -> None:
    probe = settings(database_url=db.url, databus_host="broker", databus_subscription="s")
    assert probe_subscriber(settings())[0] is False
    healthy, message = probe_subscriber(probe)
    assert not healthy and "recommender subscribe" in message
    with db.write() as conn:
        status.write(
            conn,
            status.Report(
                subscription="s",
                state=status.RECONNECTING,
                detail="stomp://broker:61613: ConnectFailedException",
                destination="/topic/user_actions",
                broker="stomp://broker:61613",
                started_at=utcnow(),
                counts=status.Counts(stored=3),
            ),
        )
    healthy, message = probe_subscriber(probe)
    # Alive and saying why it waits: restarting it would not bring the broker back.
    assert healthy and "reconnecting" in message and "ConnectFailedException" in message
