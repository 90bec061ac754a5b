"""An experiment's life: started after its definition is checked, stopped, or ended by
promoting an arm; each step one write transaction, whoever asks (API or CLI)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from recommender.engines import canonical_name
from recommender.experiments import records
from recommender.registry import versions
from recommender.store import state
from recommender.store.database import Database


def start(db: Database, spec: records.ExperimentSpec) -> records.ExperimentRecord:
    """Check and store a running experiment (`InvalidExperimentError` names what is wrong)."""
    with db.write() as conn, Session(bind=conn) as session:
        return records.create(
            conn,
            spec,
            canonical_name,
            lambda engine, version: versions.why_not_servable(session, engine, version),
        )


def stop(db: Database, experiment_id: int) -> records.ExperimentRecord:
    with db.write() as conn:
        records.end(conn, experiment_id, records.STOPPED)
        return records.get(conn, experiment_id)


def promote(db: Database, experiment_id: int, arm_name: str) -> records.ExperimentRecord:
    """Make the arm's engine the default (activating its version when it names one) and end
    the experiment as promoted: all of it happens or none."""
    with db.write() as conn:
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
