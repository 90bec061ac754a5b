"""How registered model versions and engines are shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from recommender.engines import accepted_names, canonical_name
from recommender.store.schema import ModelVersion


def _known_engine(name: str) -> str:
    if name not in accepted_names():
        raise ValueError(f"unknown engine {name!r}; expected one of: {', '.join(accepted_names())}")
    return canonical_name(name)


# The administration endpoints take an engine's own name or alias, exactly as listed; the
# portal's `engine_version` is looser (any case), as the original API was.
EngineName = Annotated[
    str,
    AfterValidator(_known_engine),
    WithJsonSchema({"type": "string", "enum": accepted_names()}),
]


class VersionOut(BaseModel):
    engine: str
    version: int
    status: str
    created_at: datetime
    activated_at: datetime | None
    task_id: str | None
    fingerprint: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    gate: dict[str, Any]
    curves: dict[str, Any]
    artifact_size: int
    artifact_sha256: str
    has_artifact: bool
    error: str | None

    @classmethod
    def of(cls, row: ModelVersion) -> VersionOut:
        return cls(
            engine=row.engine,
            version=row.version,
            status=row.status,
            created_at=row.created_at,
            activated_at=row.activated_at,
            task_id=row.task_id,
            fingerprint=row.fingerprint,
            params=row.params,
            metrics=row.metrics,
            baseline_metrics=row.baseline_metrics,
            gate=row.gate,
            curves=row.curves,
            artifact_size=row.artifact_size,
            artifact_sha256=row.artifact_sha256,
            has_artifact=row.artifact is not None or bool(row.artifact_uri),
            error=row.error,
        )


class VersionList(BaseModel):
    count: int
    versions: list[VersionOut]


class EngineOut(BaseModel):
    name: str
    trainable: bool
    aliases: list[str]
    active_version: int | None = Field(description="Version serving in this process, if any.")
    default: bool


class EngineList(BaseModel):
    default: str
    engines: list[EngineOut]


class DefaultEngineIn(BaseModel):
    engine: EngineName = Field(examples=["ncf"])
