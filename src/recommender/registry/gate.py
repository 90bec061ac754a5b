"""The quality gate a trained version must pass before it may serve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    metric: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "metric": self.metric, "reasons": list(self.reasons)}


def judge(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float],
    active: Mapping[str, float] | None,
    *,
    metric: str,
    margin: float,
) -> GateDecision:
    """Pass when the candidate beats popularity on the same held-out data and is not worse
    than the engine's active version by more than `margin` (relative)."""
    reasons = []
    value = candidate.get(metric)
    if value is None:
        return GateDecision(False, metric, [f"the evaluation did not report {metric}"])
    floor = baseline.get(metric)
    if floor is None:
        reasons.append(f"popularity was not evaluated on {metric}")
    elif value <= floor:
        reasons.append(f"{metric} {value:.4f} does not beat popularity's {floor:.4f}")
    if active is not None and active.get(metric) is not None:
        required = float(active[metric]) * (1.0 - margin)
        if value < required:
            reasons.append(
                f"{metric} {value:.4f} is more than {margin:.0%} below the active "
                f"version's {float(active[metric]):.4f}"
            )
    return GateDecision(not reasons, metric, reasons)
