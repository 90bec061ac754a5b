"""Experiments in the store: created after their definition is checked, stopped, promoted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from recommender.contract.recommendations import PANEL_SIZES
from recommender.experiments.assignment import Arm
from recommender.store import state
from recommender.store.schema import Experiment, utcnow

RUNNING, STOPPED, PROMOTED = "running", "stopped", "promoted"


class InvalidExperimentError(ValueError):
    """A definition or request that cannot be carried out; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ExperimentNotFoundError(LookupError):
    pass


class NotRunningError(RuntimeError):
    """The experiment has ended: it can be neither stopped nor promoted again."""


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    panels: tuple[str, ...]
    arms: tuple[Arm, ...]
    min_effect: float = 0.01
    alpha: float = 0.05


@dataclass(frozen=True)
class ExperimentRecord:
    id: int
    name: str
    status: str
    panels: tuple[str, ...]
    arms: tuple[Arm, ...]
    min_effect: float
    alpha: float
    created_at: datetime
    stopped_at: datetime | None
    promoted_arm: str | None
    verdicts: dict[str, object]

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        known = ", ".join(a.name for a in self.arms)
        raise InvalidExperimentError("arm", f"no arm {name!r} in this experiment; arms: {known}")


# (engine, version) -> a reason it cannot serve, or None when it can.
VersionCheck = Callable[[str, int], str | None]
# A name as a client wrote it -> the engine's canonical name (raises ValueError if unknown).
EngineName = Callable[[str], str]


def _record(row: Any) -> ExperimentRecord:
    return ExperimentRecord(
        id=int(row.id),
        name=row.name,
        status=row.status,
        panels=tuple(row.panels),
        arms=tuple(
            Arm(
                name=str(a["name"]),
                engine=str(a["engine"]),
                version=None if a.get("version") is None else int(a["version"]),
                weight=float(a["weight"]),
            )
            for a in row.arms
        ),
        min_effect=float(row.min_effect),
        alpha=float(row.alpha),
        created_at=row.created_at,
        stopped_at=row.stopped_at,
        promoted_arm=row.promoted_arm,
        verdicts=dict(row.verdicts or {}),
    )


def _rows(conn: Connection, *where: object) -> list[ExperimentRecord]:
    table = Experiment.__table__
    rows = conn.execute(select(table).where(*where).order_by(table.c.id))  # type: ignore[arg-type]
    return [_record(row) for row in rows]


def listing(conn: Connection) -> list[ExperimentRecord]:
    return _rows(conn)


def running(conn: Connection) -> list[ExperimentRecord]:
    return _rows(conn, Experiment.status == RUNNING)


def get(conn: Connection, experiment_id: int) -> ExperimentRecord:
    found = _rows(conn, Experiment.id == experiment_id)
    if not found:
        raise ExperimentNotFoundError(f"no experiment {experiment_id}")
    return found[0]


def checked(
    conn: Connection, spec: ExperimentSpec, engine_name: EngineName, version_check: VersionCheck
) -> ExperimentSpec:
    """The spec with canonical engine names, or `InvalidExperimentError` naming the field."""
    if len(spec.arms) < 2:
        raise InvalidExperimentError("arms", "an experiment needs at least two arms")
    names = [arm.name for arm in spec.arms]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise InvalidExperimentError(f"arms.{index}.name", f"arm name {name!r} is used twice")
    for panel in spec.panels:
        if panel not in PANEL_SIZES:
            raise InvalidExperimentError("panels", f"unknown panel {panel!r}")
    arms = []
    for index, arm in enumerate(spec.arms):
        if not arm.weight > 0:
            raise InvalidExperimentError(f"arms.{index}.weight", "must be greater than 0")
        try:
            engine = engine_name(arm.engine)
        except ValueError as error:
            raise InvalidExperimentError(f"arms.{index}.engine", str(error)) from None
        if arm.version is not None:
            problem = version_check(engine, arm.version)
            if problem is not None:
                raise InvalidExperimentError(f"arms.{index}.version", problem)
        arms.append(Arm(arm.name, engine, arm.version, arm.weight))
    taken = conn.execute(select(Experiment.id).where(Experiment.name == spec.name)).first()
    if taken is not None:
        raise InvalidExperimentError("name", f"an experiment named {spec.name!r} exists")
    for other in running(conn):
        shared = sorted(set(other.panels) & set(spec.panels))
        if shared:
            raise InvalidExperimentError(
                "panels",
                f"experiment {other.id} ({other.name!r}) is running on panel "
                f"{', '.join(shared)}; stop it first",
            )
    return ExperimentSpec(spec.name, tuple(spec.panels), tuple(arms), spec.min_effect, spec.alpha)


def create(
    conn: Connection, spec: ExperimentSpec, engine_name: EngineName, version_check: VersionCheck
) -> ExperimentRecord:
    """Check and store a running experiment; serving processes pick it up at their next poll.

    Run it in a write transaction: the overlap check and the insert then see the same state.
    """
    spec = checked(conn, spec, engine_name, version_check)
    new_id = conn.execute(
        insert(Experiment)
        .values(
            name=spec.name,
            created_at=utcnow(),
            status=RUNNING,
            panels=list(spec.panels),
            arms=[
                {"name": a.name, "engine": a.engine, "version": a.version, "weight": a.weight}
                for a in spec.arms
            ],
            min_effect=spec.min_effect,
            alpha=spec.alpha,
            verdicts={},
        )
        .returning(Experiment.id)
    ).scalar_one()
    state.put(conn, state.EXPERIMENTS, str(new_id))
    return get(conn, int(new_id))


def end(conn: Connection, experiment_id: int, status: str, arm: str | None = None) -> None:
    """Stop a running experiment (`stopped`, or `promoted` with the promoted arm)."""
    current = get(conn, experiment_id)
    if not current.running:
        raise NotRunningError(f"experiment {experiment_id} is {current.status}")
    conn.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id)
        .values(status=status, stopped_at=utcnow(), promoted_arm=arm)
    )
    state.put(conn, state.EXPERIMENTS, str(experiment_id))


def record_verdicts(conn: Connection, experiment_id: int, verdicts: dict[str, object]) -> None:
    conn.execute(update(Experiment).where(Experiment.id == experiment_id).values(verdicts=verdicts))


def arms_of(records: Sequence[ExperimentRecord]) -> set[tuple[str, int]]:
    """The (engine, version) pairs running experiments pin, which serving must hold."""
    return {
        (arm.engine, arm.version)
        for record in records
        if record.running
        for arm in record.arms
        if arm.version is not None
    }
