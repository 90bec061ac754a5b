"""NCF trained by two processes under torchrun (DDP over gloo) against the same fit in one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender.engines.base import Artifact, Query
from recommender.engines.ncf import NCFModel
from recommender.engines.ncf.distributed import Ranks
from tests.engines import ncf_ddp

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_shares_cover_a_batch_once_and_weigh_it_as_one() -> None:
    losses = np.random.default_rng(0).random(25)
    for size in (1, 5, 25):
        ranks = [Ranks(rank, 3) for rank in range(3)]
        parts = [losses[:size][r.share(size)] for r in ranks]
        assert np.concatenate(parts).tolist() == losses[:size].tolist()
        # DDP averages over the processes: their weighted mean losses average to the batch's.
        weighted = [
            r.weight(size) * part.mean() if part.size else 0.0
            for r, part in zip(ranks, parts, strict=True)
        ]
        assert sum(weighted) / 3 == pytest.approx(losses[:size].mean())


def test_alone_everything_is_this_process() -> None:
    alone = Ranks()
    assert alone.alone and Ranks.current() == alone
    assert alone.share(7) == slice(0, 7) and alone.weight(7) == 1.0
    assert alone.decide(lambda: 3) == 3 and alone.mean(2.5) == 2.5


@pytest.mark.slow
def test_two_processes_train_the_model_one_process_trains(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "tests.engines.ncf_ddp",
        str(tmp_path),
    ]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [
        NCFModel.from_artifact(Artifact.from_bytes((tmp_path / f"rank{r}.model").read_bytes()))
        for r in range(2)
    ]
    # Both processes end with the same weights, bit for bit.
    for name, values in ranks[0].arrays.items():
        np.testing.assert_array_equal(values, ranks[1].arrays[name], err_msg=name)
    alone = ncf_ddp.fit()
    distributed = ranks[0]
    # The same decisions: epochs kept, the head's passes and its weight.
    assert set(alone.fitted_params) == {"epochs", "head_epochs", "head_weight"}
    assert distributed.fitted_params == alone.fitted_params
    assert len(distributed.curves["loss"]) == len(alone.curves["loss"])
    np.testing.assert_allclose(distributed.curves["loss"], alone.curves["loss"], rtol=1e-4)
    # The same model up to the order of floating-point sums.
    for name, values in alone.arrays.items():
        np.testing.assert_allclose(distributed.arrays[name], values, atol=1e-4, err_msg=name)
    users = [Query(user_id=int(u)) for u in alone.user_ids]
    np.testing.assert_allclose(
        distributed.score_batch(users, alone.item_ids),
        alone.score_batch(users, alone.item_ids),
        atol=1e-4,
    )
