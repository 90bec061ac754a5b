"""Early stopping: follow one validation figure across checks, keep the best state seen, and
stop once `patience` checks in a row brought nothing better.

One rule for every engine that stops early (ncf's fused branches and its softmax head, rl);
what a check measures and what a state is are the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

StateT = TypeVar("StateT")


class EarlyStopping(Generic[StateT]):
    """The best check so far of `metric` (higher is better unless `lower_is_better`)."""

    def __init__(self, metric: str, patience: int, *, lower_is_better: bool = False) -> None:
        if patience < 1:
            raise ValueError("patience must be at least 1")
        self.metric = metric
        self.patience = patience
        self.lower_is_better = lower_is_better
        self.best_score = math.inf if lower_is_better else -math.inf
        # Where the best check was taken (an epoch, a step); 0 before any improvement.
        self.best_at = 0
        self.best_state: StateT | None = None
        self._checks_since_best = 0

    def _improves(self, score: float) -> bool:
        # NaN never improves: a diverged model is not kept.
        return score < self.best_score if self.lower_is_better else score > self.best_score

    def check(self, at: int, figures: Mapping[str, float], state: Callable[[], StateT]) -> bool:
        """Record the figures measured at `at`; `state` is called to keep a copy when they
        are the best so far. True when training should stop."""
        score = figures[self.metric]
        if self._improves(score):
            self.best_score, self.best_at = score, at
            self.best_state = state()
            self._checks_since_best = 0
        else:
            self._checks_since_best += 1
        return self._checks_since_best >= self.patience
