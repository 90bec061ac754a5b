"""One NCF fit per process that torchrun started, each process's model written to a folder:
what `test_ncf_ddp.py` compares with the same fit in one process."""

from __future__ import annotations

import sys
from pathlib import Path

from recommender.engines.base import TrainingOptions
from recommender.engines.ncf import NCFEngine, NCFModel
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import validation_on
from tests.engines.test_ncf import SMALL, communities

# A batch that does not divide the 180 training pairs: the last one is split unevenly.
PARAMS = {**SMALL, "batch_size": 25, "epochs": 12, "head_epochs": 6, "patience": 4}


def fit() -> NCFModel:
    """Stopped early on a validation fold, so the processes also share its decisions."""
    split = temporal_loo(from_interactions(communities(n_users=60), "communities"), seed=0)
    validation = split.validation
    return NCFEngine(PARAMS).fit(
        validation.train, TrainingOptions(seed=0, validation=validation_on(validation))
    )


def main(folder: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        model = fit()
        rank = dist.get_rank()
        (folder / f"rank{rank}.model").write_bytes(model.to_artifact().to_bytes())
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
