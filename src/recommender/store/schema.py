"""The database schema: every table of the store as a typed SQLAlchemy class."""

# Longer than 400 lines because every table is declared here, in one metadata, so foreign keys,
# indexes and the migrations that mirror them read in one place.

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Constraint names must be stable for Alembic's batch mode on SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only aliases ROWID (and so autoincrements) for INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- the catalogue ----------------------------------------------------------------------------


class _Vocabulary:
    """Columns shared by the small named entities of a dump."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[str | None] = mapped_column(String(255))


class Category(_Vocabulary, Base):
    __tablename__ = "categories"


class Provider(_Vocabulary, Base):
    __tablename__ = "providers"


class ScientificDomain(_Vocabulary, Base):
    __tablename__ = "scientific_domains"


class Platform(_Vocabulary, Base):
    __tablename__ = "platforms"


class TargetUser(_Vocabulary, Base):
    __tablename__ = "target_users"


class AccessMode(_Vocabulary, Base):
    __tablename__ = "access_modes"


class AccessType(_Vocabulary, Base):
    __tablename__ = "access_types"


class Trl(_Vocabulary, Base):
    __tablename__ = "trls"


class LifeCycleStatus(_Vocabulary, Base):
    __tablename__ = "life_cycle_statuses"


class ResearchStep(_Vocabulary, Base):
    __tablename__ = "research_steps"


def _link(name: str, left: str, right: str, *, ordered: bool = False) -> Table:
    """A many-to-many table `name(<left>_id, <right>_id)`; deleting either side removes links."""
    left_table, left_column = left.split(".")
    right_table, right_column = right.split(".")
    columns: list[Column[Any]] = [
        Column(
            left_column,
            BigInteger,
            ForeignKey(f"{left_table}.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            right_column,
            BigInteger,
            ForeignKey(f"{right_table}.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
    ]
    if ordered:
        columns.append(Column("position", Integer, nullable=False))
    return Table(name, Base.metadata, *columns)


service_categories = _link("service_categories", "services.service_id", "categories.category_id")
service_providers = _link("service_providers", "services.service_id", "providers.provider_id")
service_scientific_domains = _link(
    "service_scientific_domains", "services.service_id", "scientific_domains.scientific_domain_id"
)
service_platforms = _link("service_platforms", "services.service_id", "platforms.platform_id")
service_target_users = _link(
    "service_target_users", "services.service_id", "target_users.target_user_id"
)
service_access_modes = _link(
    "service_access_modes", "services.service_id", "access_modes.access_mode_id"
)
service_access_types = _link(
    "service_access_types", "services.service_id", "access_types.access_type_id"
)
service_trls = _link("service_trls", "services.service_id", "trls.trl_id")
service_life_cycle_statuses = _link(
    "service_life_cycle_statuses", "services.service_id", "life_cycle_statuses.life_cycle_status_id"
)
service_research_steps = _link(
    "service_research_steps", "services.service_id", "research_steps.research_step_id"
)
service_related_services = _link(
    "service_related_services", "services.service_id", "services.related_service_id"
)
service_required_services = _link(
    "service_required_services", "services.service_id", "services.required_service_id"
)
user_scientific_domains = _link(
    "user_scientific_domains", "users.user_id", "scientific_domains.scientific_domain_id"
)
user_categories = _link("user_categories", "users.user_id", "categories.category_id")
user_accessed_services = _link(
    "user_accessed_services", "users.user_id", "services.service_id", ordered=True
)
project_services = _link("project_services", "projects.project_id", "services.service_id")


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    tagline: Mapped[str] = mapped_column(Text, default="")
    countries: Mapped[list[str]] = mapped_column(Json, default=list)
    order_type: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32), default="published", index=True)
    pid: Mapped[str | None] = mapped_column(String(255))
    horizontal: Mapped[bool | None] = mapped_column(Boolean)
    resource_organisation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("providers.id", ondelete="SET NULL")
    )

    categories: Mapped[list[Category]] = relationship(secondary=service_categories)
    providers: Mapped[list[Provider]] = relationship(secondary=service_providers)
    scientific_domains: Mapped[list[ScientificDomain]] = relationship(
        secondary=service_scientific_domains
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    aai_uid: Mapped[str | None] = mapped_column(String(255), unique=True)

    scientific_domains: Mapped[list[ScientificDomain]] = relationship(
        secondary=user_scientific_domains
    )
    categories: Mapped[list[Category]] = relationship(secondary=user_categories)
    accessed_services: Mapped[list[Service]] = relationship(
        secondary=user_accessed_services, order_by=user_accessed_services.c.position
    )


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    services: Mapped[list[Service]] = relationship(secondary=project_services)


# --- what was uploaded, and what the service knows about its own state -------------------------


class CatalogDump(Base):
    """An uploaded catalogue dump: kept compressed so a job can load it by id."""

    __tablename__ = "catalog_dumps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    loaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="received")
    byte_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    counts: Mapped[dict[str, int]] = mapped_column(Json, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class StateEntry(Base):
    """A named value with a version that serving processes poll to notice changes."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PopularityCount(Base):
    """Distinct users of a service: overall (feature "", value 0) or among the users who
    declared one scientific domain or category. Counted once where a dump is loaded and on
    each recount, so that serving processes read services x interests rows, never users."""

    __tablename__ = "popularity_counts"

    feature: Mapped[str] = mapped_column(String(32), primary_key=True)
    value_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    users: Mapped[int] = mapped_column(BigInteger)


class PopularityAudience(Base):
    """Users counted for popularity: all of them (feature "", value 0) or those who declared
    one interest; the denominators of `popularity_counts`, stored with them."""

    __tablename__ = "popularity_audiences"

    feature: Mapped[str] = mapped_column(String(32), primary_key=True)
    value_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    users: Mapped[int] = mapped_column(BigInteger)


# --- background jobs and the model registry --------------------------------------------------


class Task(Base):
    """One background job and what became of it; the executor and the API share this row."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    worker: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_tasks_state", "state"),
        Index("ix_tasks_created_at", "created_at"),
    )


class Lock(Base):
    """A named lease: long jobs hold it, and a holder that died loses it when it expires."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ModelVersion(Base):
    """A trained model of one engine: its data, metrics, artifact and lifecycle status."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    engine: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    task_id: Mapped[str | None] = mapped_column(String(36))
    fingerprint: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    baseline_metrics: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    curves: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    gate: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)
    artifact_uri: Mapped[str | None] = mapped_column(Text)
    artifact_size: Mapped[int] = mapped_column(BigInteger, default=0)
    artifact_sha256: Mapped[str] = mapped_column(String(64), default="")
    plot_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_model_versions_engine_version", "engine", "version", unique=True),
        Index("ix_model_versions_engine_status", "engine", "status"),
    )


# --- activity: never touched by a dump ---------------------------------------------------------


class Recommendation(Base):
    """An impression: one answer of `POST /recommendations` and the context it was made in."""

    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    unique_id: Mapped[str] = mapped_column(String(255))
    visit_id: Mapped[str | None] = mapped_column(String(255))
    page_id: Mapped[str] = mapped_column(Text)
    panel_id: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    aai_uid: Mapped[str | None] = mapped_column(String(255))
    engine_requested: Mapped[str | None] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int | None] = mapped_column(Integer)
    catalog_version: Mapped[int] = mapped_column(BigInteger, default=0)
    search_data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    candidates: Mapped[list[int] | None] = mapped_column(Json)
    candidate_count: Mapped[int] = mapped_column(Integer)
    service_ids: Mapped[list[int]] = mapped_column(Json)
    scores: Mapped[list[float]] = mapped_column(Json)
    # The A/B experiment and arm this visitor was assigned to, when one covered the panel.
    experiment_id: Mapped[int | None] = mapped_column(BigInteger)
    arm: Mapped[str | None] = mapped_column(String(64))
    # The chance that the logging policy showed this panel's engine to this visitor (the arm's
    # share of the experiment); 1 outside experiments. Off-policy estimates divide by it.
    propensity: Mapped[float] = mapped_column(Float, default=1.0)
    # What the visitor read beside each service (null for impressions stored before 0007).
    explanations: Mapped[list[str] | None] = mapped_column(Json)
    # For impressions of a uniformly random experiment arm: the services it drew from
    # (`allowed`) and the query another engine would have ranked them with (`history`,
    # `scientific_domains`, `categories`), so off-policy estimates can replay the panel.
    context: Mapped[dict[str, Any] | None] = mapped_column(Json)

    __table_args__ = (
        Index("ix_recommendations_visit_panel", "visit_id", "panel_id"),
        Index("ix_recommendations_experiment", "experiment_id", "arm"),
        Index("ix_recommendations_user_id", "user_id"),
        # The RL data set reads an anonymous visitor's impressions by browser.
        Index("ix_recommendations_unique_id", "unique_id"),
        Index("ix_recommendations_created_at", "created_at"),
    )


class Experiment(Base):
    """An A/B experiment: the panels it covers, its arms, and how it ended."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # running, stopped or promoted
    status: Mapped[str] = mapped_column(String(16))
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    panels: Mapped[list[str]] = mapped_column(Json)
    # [{"name", "engine", "version", "weight"}], the first arm is the control
    arms: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    # The smallest difference in rate worth detecting: the sequential test's mixing scale.
    min_effect: Mapped[float] = mapped_column(Float)
    alpha: Mapped[float] = mapped_column(Float)
    promoted_arm: Mapped[str | None] = mapped_column(String(64))
    # Per arm, the first verdict the sequential test reached (it stands once reached).
    verdicts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class UserAction(Base):
    """One action a visitor took on the portal, as posted to `POST /user_actions`."""

    __tablename__ = "user_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    unique_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    aai_uid: Mapped[str | None] = mapped_column(String(255))
    client_id: Mapped[str | None] = mapped_column(String(32))
    source_visit_id: Mapped[str | None] = mapped_column(String(255))
    source_page_id: Mapped[str] = mapped_column(Text)
    root_type: Mapped[str | None] = mapped_column(String(64))
    root_panel_id: Mapped[str | None] = mapped_column(String(64))
    root_service_id: Mapped[int | None] = mapped_column(BigInteger)
    root_resource_type: Mapped[str | None] = mapped_column(String(64))
    root_resource_id: Mapped[str | None] = mapped_column(String(255))
    target_visit_id: Mapped[str] = mapped_column(String(255))
    target_page_id: Mapped[str] = mapped_column(Text)
    action_type: Mapped[str] = mapped_column(String(255))
    action_text: Mapped[str] = mapped_column(Text, default="")
    is_order: Mapped[bool] = mapped_column(Boolean, default=False)
    service_id: Mapped[int | None] = mapped_column(BigInteger)
    recommendation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("recommendations.id", ondelete="SET NULL")
    )
    # SHA-256 of the databus message that brought the action (none over HTTP): a message
    # delivered again finds its action here and stores nothing.
    message_digest: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_user_actions_message_digest", "message_digest", unique=True),
        Index("ix_user_actions_user_order", "user_id", "is_order"),
        Index("ix_user_actions_unique_id", "unique_id"),
        Index("ix_user_actions_source_visit_id", "source_visit_id"),
        Index("ix_user_actions_target_visit_id", "target_visit_id"),
        Index("ix_user_actions_recommendation_id", "recommendation_id"),
        Index("ix_user_actions_timestamp", "timestamp"),
    )


# --- training data derived from activity --------------------------------------------------------


class Transition(Base):
    """One finished step of the RL data set: an impression, what its identity had engaged with
    before, what its panel's clicks led to, and the identity's next impression.

    Written once, when nothing later can change it, and never updated.
    """

    __tablename__ = "transitions"

    impression_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("recommendations.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    # Service ids, oldest first, newest last.
    history: Mapped[list[int]] = mapped_column(Json)
    # Per panel position, {transition label: count} of the journeys begun there.
    panel_labels: Mapped[list[dict[str, int]]] = mapped_column(Json)
    next_impression_id: Mapped[int | None] = mapped_column(BigInteger)
    next_history: Mapped[list[int]] = mapped_column(Json)
    done: Mapped[bool] = mapped_column(Boolean)


# --- the databus -------------------------------------------------------------------------------


class DeadLetter(Base):
    """A databus message that could not be stored as a user action, kept with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_digest: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    # Field path -> message, as a 400 answer of `POST /user_actions` names them.
    errors: Mapped[dict[str, str]] = mapped_column(Json, default=dict)

    __table_args__ = (
        Index("ix_dead_letters_message_digest", "message_digest", unique=True),
        Index("ix_dead_letters_received_at", "received_at"),
    )


class Subscriber(Base):
    """What a databus subscriber last reported: its state and its running counts."""

    __tablename__ = "databus_subscribers"

    subscription: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    destination: Mapped[str] = mapped_column(Text, default="")
    broker: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    consumed: Mapped[int] = mapped_column(BigInteger, default=0)
    stored: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    dead_lettered: Mapped[int] = mapped_column(BigInteger, default=0)
    # Seconds from a message being sent to its action being committed, over the latest report
    # that stored any.
    lag_p50_s: Mapped[float | None] = mapped_column(Float)
    lag_p99_s: Mapped[float | None] = mapped_column(Float)


# In the order a load inserts them; a replacement deletes them in reverse.
CATALOG_TABLE_NAMES: tuple[str, ...] = (
    "categories",
    "providers",
    "scientific_domains",
    "platforms",
    "target_users",
    "access_modes",
    "access_types",
    "trls",
    "life_cycle_statuses",
    "research_steps",
    "services",
    "service_categories",
    "service_providers",
    "service_scientific_domains",
    "service_platforms",
    "service_target_users",
    "service_access_modes",
    "service_access_types",
    "service_trls",
    "service_life_cycle_statuses",
    "service_research_steps",
    "service_related_services",
    "service_required_services",
    "users",
    "user_scientific_domains",
    "user_categories",
    "user_accessed_services",
    "projects",
    "project_services",
)


def catalog_tables() -> list[Table]:
    return [Base.metadata.tables[name] for name in CATALOG_TABLE_NAMES]
