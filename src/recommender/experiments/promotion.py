"""Promoting an arm: its engine (and version) becomes what every visitor gets."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from recommender.experiments import records
from recommender.registry import versions
from recommender.store import state


def promote(conn: Connection, experiment_id: int, arm_name: str) -> records.ExperimentRecord:
    """Make the arm's engine the default (activating its version when it names one) and end
    the experiment as promoted. Run in a write transaction: all of it happens or none."""
    record = records.get(conn, experiment_id)
    arm = record.arm(arm_name)
    if not record.running:
        raise records.NotRunningError(f"experiment {experiment_id} is {record.status}")
    if arm.version is not None:
        with Session(bind=conn) as session:
            try:
                versions.activate(session, arm.engine, arm.version)
            except (versions.VersionNotFoundError, versions.NotActivatableError) as error:
                raise records.InvalidExperimentError("arm", str(error)) from None
            session.flush()
    state.put(conn, state.DEFAULT_ENGINE, arm.engine)
    records.end(conn, experiment_id, records.PROMOTED, arm.name)
    return records.get(conn, experiment_id)
