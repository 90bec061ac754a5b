"""Which arm a visitor sees: a stable hash of the experiment and the visitor, cut by weight."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

_SCALE = float(1 << 64)


@dataclass(frozen=True)
class Arm:
    name: str
    engine: str
    version: int | None
    weight: float


def visitor_key(user_id: int | None, aai_uid: str | None, unique_id: str) -> str:
    """Who is assigned: the logged-in user if known, else the AAI identity, else the browser."""
    if user_id is not None:
        return f"user:{user_id}"
    if aai_uid:
        return f"aai:{aai_uid}"
    return f"browser:{unique_id}"


# A visitor asks for many panels in a row: their point is hashed once while they browse.
@lru_cache(maxsize=1 << 16)
def bucket(experiment_id: int, key: str) -> float:
    """A uniform number in [0, 1) fixed by (experiment, visitor): sticky for the visitor and
    independent between experiments (the experiment is part of the hashed text)."""
    digest = hashlib.blake2b(f"{experiment_id}/{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def choose_arm(arms: Sequence[Arm], point: float) -> tuple[Arm, float]:
    """The arm whose share of the weights holds `point`, and that share (its propensity)."""
    total = sum(arm.weight for arm in arms)
    edge = 0.0
    for arm in arms:
        edge += arm.weight / total
        if point < edge:
            return arm, arm.weight / total
    last = arms[-1]  # rounding at the very top
    return last, last.weight / total
