"""A training job across processes, each started by `torchrun`: one engine's model trained
with DistributedDataParallel, measured and registered once.

    torchrun --standalone --nproc-per-node 2 -m recommender.tasks.distributed ncf

(`recommender train ncf --processes 2` starts the same.) The first process records the job and
runs it as `recommender train` would, with its lock, progress and outcome; the others read the
same store, draw the same split and take part in every fit, and register nothing. The process
group speaks gloo on CPUs and NCCL when `TRAINING_DEVICE` names CUDA and a GPU is there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from recommender.config import Settings, get_settings
from recommender.engines import canonical_name, engine_class
from recommender.progress import quiet
from recommender.store import migrate
from recommender.store.database import Database
from recommender.tasks import records
from recommender.tasks.runner import run_task

log = logging.getLogger(__name__)


def backend(device: str) -> str:
    """NCCL for GPUs, gloo for CPUs (and for a CUDA device asked for but absent, which the
    engines replace by the CPU)."""
    import torch

    return "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"


def refusal(engine: str) -> str | None:
    """Why `engine` cannot train across processes, or None when it can."""
    if not engine_class(engine).distributed:
        return f"{engine} trains in one process only (ncf trains across several)"
    return None


def _primary(db: Database, settings: Settings, engine: str) -> dict[str, Any] | None:
    with db.write() as conn:
        task_id = records.create(conn, "train", {"engine": engine})
    log.info("task %s", task_id)

    def say(fraction: float, message: str) -> None:
        log.info("%3.0f%% %s", 100 * fraction, message)

    return run_task(db, settings, task_id, observer=say)


def run(engine: str, result: Path | None = None) -> dict[str, Any] | None:
    """Train `engine` in this process's part of the process group the launcher describes
    (its environment); the first process writes the job's outcome to `result`."""
    import torch
    import torch.distributed as dist

    from recommender.training.pipeline import train_engine

    settings = get_settings()
    chosen = backend(settings.training_device)
    if chosen == "nccl":
        # One GPU per process: "cuda" then means this process's own.
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(chosen)
    db = Database(settings.database_url, pool_size=2)
    try:
        rank = dist.get_rank()
        if rank == 0:
            migrate.upgrade(db.engine)
        # The others read the store only once it has the schema the first one migrated to.
        dist.barrier()
        if rank != 0:
            train_engine(db, settings, engine, quiet, primary=False)
            outcome = None
        else:
            outcome = _primary(db, settings, engine)
            if result is not None:
                result.write_text(json.dumps(outcome or {}), encoding="utf-8")
        # Every process leaves the group once all are done: in a CI run, the second process
        # tore its part down while the first was still registering the model, and aborted
        # ("terminate called without an active exception"), failing the job.
        dist.barrier()
        return outcome
    finally:
        db.dispose()
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="torchrun ... -m recommender.tasks.distributed",
        description="Train one engine across the processes torchrun started.",
    )
    parser.add_argument("engine", help="the engine to train (ncf)")
    parser.add_argument("--result", type=Path, help="where the first process writes the outcome")
    args = parser.parse_args(argv)
    engine = canonical_name(args.engine)
    refused = refusal(engine)
    if refused:
        parser.exit(2, refused + "\n")
    # The first process speaks for all: the others take the same steps and decisions.
    first = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(
        level=logging.INFO if first else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    run(engine, args.result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
