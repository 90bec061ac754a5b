"""Thread counts while engines train: set for the block, given back after it, errors or not."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_info

from recommender.engines.hardware import limited_threads


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_torch_threads_are_set_inside_and_given_back() -> None:
    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2
    with limited_threads(torch_threads=wanted):
        assert torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before


def test_counts_are_given_back_after_an_error() -> None:
    before_torch, before_blas = torch.get_num_threads(), blas_threads()
    wanted = 1 if before_torch > 1 else 2
    with pytest.raises(RuntimeError), limited_threads(torch_threads=wanted, blas_threads=1):
        assert blas_threads() == {1}
        raise RuntimeError("training failed")
    assert torch.get_num_threads() == before_torch
    assert blas_threads() == before_blas


def test_zero_leaves_the_counts_alone() -> None:
    before_torch, before_blas = torch.get_num_threads(), blas_threads()
    with limited_threads():
        assert (torch.get_num_threads(), blas_threads()) == (before_torch, before_blas)
