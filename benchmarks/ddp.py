"""What training ncf across processes (DistributedDataParallel under torchrun) gains over one.

    .venv/bin/python -m benchmarks.ddp                       # 1 and 2 processes, ML-1M
    .venv/bin/python -m benchmarks.ddp --layouts 1x1,1x2,2x1 --epochs 3 --head-epochs 2

Each layout (processes x PyTorch threads per process) fits ncf with the same seed, the same
global batches and a fixed number of passes (no early stopping, so every layout does the same
work) on the training part of MovieLens 1M's NCF split, started by torchrun with gloo; the
first process then ranks the split's held-out item against its 99 negatives (HR@10,
NDCG@10). Times per pass are the medians of what the fit recorded, the softmax head's passes
and the fused branches' apart; the whole fit includes what every process does alike (reading
the data, the implicit-ALS start of GMF). Speed-ups are against the first layout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("RECOMMENDER_DATA_DIR", REPO.parent / "shared" / "data"))


def worker(out: Path, epochs: int, head_epochs: int) -> None:
    """One process's part of a fit; the first process measures and writes the figures."""
    import torch
    import torch.distributed as dist

    from recommender.engines.base import TrainingOptions
    from recommender.engines.ncf import NCFEngine
    from recommender.evaluation.params import read_params
    from recommender.evaluation.protocols import split
    from recommender.evaluation.readers import load_dataset
    from recommender.evaluation.runner import evaluate_model

    dist.init_process_group("gloo")
    try:
        began = time.perf_counter()
        data = load_dataset("ncf", _data_dir() / "movielens-1m" / "ncf-protocol")
        fold = split("sampled-loo", data, 0).test
        tuned = read_params(REPO / "benchmarks" / "params" / "ml-1m-ncf.toml").get("ncf", {})
        params = {**tuned, "epochs": epochs, "head_epochs": head_epochs}
        fitted = time.perf_counter()
        model = NCFEngine(params).fit(fold.train, TrainingOptions(seed=0))
        fit_s = time.perf_counter() - fitted
        if dist.get_rank() == 0:
            metrics = evaluate_model(model, fold, 10, ("HR", "NDCG")).metrics
            curves = model.curves
            figures: dict[str, Any] = {
                "processes": dist.get_world_size(),
                "threads": torch.get_num_threads(),
                "pairs": int(fold.train.nnz),
                "fit_s": fit_s,
                "total_s": time.perf_counter() - began,
                "head_epoch_s": statistics.median(curves["head_epoch_s"] or [0.0]),
                "epoch_s": statistics.median(curves["epoch_s"]),
                "loss": curves["loss"][-1],
                **metrics,
            }
            out.write_text(json.dumps(figures), encoding="utf-8")
    finally:
        dist.destroy_process_group()


def run(processes: int, threads: int, epochs: int, head_epochs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recommender-ddp-") as folder:
        out = Path(folder) / "figures.json"
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "benchmarks.ddp",
            "--worker",
            str(out),
            f"--epochs={epochs}",
            f"--head-epochs={head_epochs}",
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, cwd=REPO, env=env, check=True)
        figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--layouts", default="1x2,2x1", help="processes x threads per process, comma-separated"
    )
    parser.add_argument("--epochs", type=int, default=3, help="passes of the fused branches")
    parser.add_argument("--head-epochs", type=int, default=2, help="passes of the softmax head")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.epochs, args.head_epochs)
        return
    rows = []
    for layout in args.layouts.split(","):
        processes, threads = (int(part) for part in layout.split("x"))
        rows.append(run(processes, threads, args.epochs, args.head_epochs))
        print(json.dumps(rows[-1]), flush=True)
    first = rows[0]
    print(
        "| processes x threads | head pass s | fused pass s | speed-up (fused) | fit s "
        "| speed-up (fit) | HR@10 | NDCG@10 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['processes']} x {row['threads']} | {row['head_epoch_s']:.1f} "
            f"| {row['epoch_s']:.1f} | {first['epoch_s'] / row['epoch_s']:.2f} "
            f"| {row['fit_s']:.1f} | {first['fit_s'] / row['fit_s']:.2f} "
            f"| {row['HR@10']:.4f} | {row['NDCG@10']:.4f} |"
        )


if __name__ == "__main__":
    main()
