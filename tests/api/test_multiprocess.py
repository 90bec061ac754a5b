"""gunicorn's configuration for several server processes, without starting any."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.api.multiprocess import (
    WORKER_CLASS,
    GunicornServer,
    _child_exit,
    _on_starting,
    bind_address,
    gunicorn_options,
)


def options(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "host": "0.0.0.0",
        "port": 8000,
        "workers": 3,
        "graceful_timeout": 25,
        "log_level": "warning",
    }
    values.update(overrides)
    return gunicorn_options(**values)


def test_bind_address_brackets_ipv6() -> None:
    assert bind_address("0.0.0.0", 8000) == "0.0.0.0:8000"
    assert bind_address("::", 9000) == "[::]:9000"
    assert bind_address("::1", 80) == "[::1]:80"


def test_gunicorn_accepts_the_configuration() -> None:
    # gunicorn validates every value (hooks by their arity) when it is set.
    server = GunicornServer(options())
    cfg = server.cfg
    assert cfg.bind == ["0.0.0.0:8000"]
    assert cfg.workers == 3
    assert cfg.worker_class_str == WORKER_CLASS
    assert cfg.graceful_timeout == 25
    assert cfg.loglevel == "warning"
    assert cfg.control_socket_disable is True


def test_the_worker_class_is_importable() -> None:
    module, _, name = WORKER_CLASS.rpartition(".")
    worker = getattr(__import__(module, fromlist=[name]), name)
    assert worker.__name__ == name


def test_prometheus_hooks_do_nothing_unless_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    _on_starting(None)
    _child_exit(None, type("Worker", (), {"pid": 12345})())


def test_prometheus_files_of_a_previous_run_are_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old")
    (folder / "gauge_livesum_123.db").write_bytes(b"old")
    (folder / "keep.txt").write_text("not a metric file")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    _on_starting(None)
    assert sorted(path.name for path in folder.iterdir()) == ["keep.txt"]
    _child_exit(None, type("Worker", (), {"pid": 123})())  # no live files: nothing to mark
