"""`recommender worker | train | jobs`: background work from the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from recommender.cli.app import app
from recommender.cli.output import console, progress_bar, report_error
from recommender.config import get_settings
from recommender.config_errors import InvalidSettingsError
from recommender.engines import UnknownEngineError, canonical_name
from recommender.store import migrate
from recommender.store.database import Database
from recommender.tasks import records
from recommender.tasks.distributed import refusal
from recommender.tasks.runner import run_task


@app.command()
def worker(
    concurrency: int = typer.Option(1, min=1, help="Jobs run at once by this worker."),
    pool: str = typer.Option("prefork", help="Celery pool: prefork, solo or threads."),
    beat: bool = typer.Option(
        False,
        "--beat",
        help="Also run the scheduler of periodic work (scheduled retraining); run exactly "
        "one worker with it.",
    ),
    schedule_file: Path = typer.Option(
        Path("var/celerybeat-schedule"), help="Where the scheduler keeps its last run times."
    ),
) -> None:
    """Run a Celery worker that executes background jobs (needs REDIS_URL)."""
    settings = get_settings()
    if not settings.redis_url:
        report_error("REDIS_URL is not set: without a broker, jobs run inside the server")
        raise typer.Exit(code=2)
    from recommender.tasks.celery_app import run_worker

    if beat:
        schedule_file.parent.mkdir(parents=True, exist_ok=True)
    run_worker(
        settings,
        concurrency=concurrency,
        pool=pool,
        loglevel=settings.log_level,
        beat=beat,
        schedule_file=str(schedule_file),
    )


@app.command()
def beat(
    schedule_file: Path = typer.Option(
        Path("var/celerybeat-schedule"), help="Where the scheduler keeps its last run times."
    ),
) -> None:
    """Run the scheduler of periodic work (scheduled retraining) for Celery workers; exactly
    one per deployment (or run one worker with `--beat` instead)."""
    settings = get_settings()
    if not settings.redis_url:
        report_error("REDIS_URL is not set: without a broker, the server schedules by itself")
        raise typer.Exit(code=2)
    from recommender.tasks.celery_app import run_beat

    schedule_file.parent.mkdir(parents=True, exist_ok=True)
    run_beat(settings, schedule_file=str(schedule_file), loglevel=settings.log_level)


def _run_here(name: str, **args: Any) -> dict[str, Any] | None:
    settings = get_settings()
    db = Database(settings.database_url, pool_size=4)
    try:
        migrate.upgrade(db.engine)
        with db.write() as conn:
            task_id = records.create(conn, name, args)
        console.print(f"task {task_id}")
        with progress_bar(name) as update:
            result = run_task(db, settings, task_id, observer=update)
        return result
    finally:
        db.dispose()


def _run_across(engine: str, processes: int) -> dict[str, Any]:
    """The training job of `engine` run by `processes` processes that torchrun starts here."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "recommender.tasks.distributed",
            engine,
            f"--result={result}",
        ]
        finished = subprocess.run(command, check=False)
        if finished.returncode != 0 or not result.exists():
            raise RuntimeError(f"the {processes} training processes exited with an error")
        outcome: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        return outcome


@app.command()
def train(
    engine: str | None = typer.Argument(
        None, help="Engine to train; all trainable ones if omitted."
    ),
    processes: int = typer.Option(
        1,
        "--processes",
        min=1,
        help="Train one engine (ncf) across this many processes on this machine, with "
        "PyTorch's DistributedDataParallel started by torchrun (one per GPU with "
        "TRAINING_DEVICE=cuda).",
    ),
) -> None:
    """Train, evaluate and register models here and now (recorded as a job, like the API's)."""
    try:
        name = canonical_name(engine) if engine else None
    except UnknownEngineError as error:
        report_error(error)
        raise typer.Exit(code=2) from None
    if processes > 1:
        refused = "--processes needs one engine" if name is None else refusal(name)
        if refused:
            report_error(refused)
            raise typer.Exit(code=2)
    try:
        if processes > 1 and name is not None:
            result = _run_across(name, processes)
        else:
            result = _run_here("train", engine=name) or {}
    except InvalidSettingsError:
        raise
    except Exception as error:
        report_error(f"training failed: {error}")
        raise typer.Exit(code=1) from None
    table = Table("engine", "version", "status", "metrics", "gate")
    for trained, outcome in result.get("engines", {}).items():
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in (outcome.get("metrics") or {}).items())
        gate = outcome.get("gate") or {}
        table.add_row(
            trained,
            str(outcome.get("version", "-")),
            str(outcome.get("status")),
            metrics or str(outcome.get("error") or outcome.get("reason", "")),
            "; ".join(gate.get("reasons", [])) or ("passed" if gate.get("passed") else ""),
        )
    console.print(table)


@app.command()
def jobs(
    task_id: str | None = typer.Argument(None, help="Show one job in full."),
    state: str | None = typer.Option(None, help="queued, running, succeeded or failed."),
    limit: int = typer.Option(20, min=1, max=500),
) -> None:
    """List recent background jobs (the same as GET /tasks)."""
    db = Database(get_settings().database_url, pool_size=1)
    try:
        migrate.upgrade(db.engine)
        with db.engine.connect() as conn:
            if task_id:
                found = records.get(conn, task_id)
                if found is None:
                    report_error(f"no task {task_id}")
                    raise typer.Exit(code=1)
                console.print(found)
                return
            rows = records.recent(conn, limit=limit, state=state)
    finally:
        db.dispose()
    table = Table("id", "job", "state", "progress", "created", "finished", "message / error")
    for row in rows:
        table.add_row(
            row.id,
            row.name,
            row.state,
            f"{row.progress:.0%}",
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.finished_at.strftime("%H:%M:%S") if row.finished_at else "",
            row.error or row.message,
        )
    console.print(table)
