"""The service's settings: one object read from the environment and an optional `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recommender.config_errors import InvalidSettingsError, explain
from recommender.contract.rewards import RewardValues

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# What people write for a level, as Python's logging and the original's CELERY_LOG_LEVEL took it.
LOG_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical"}


def parse_max_items(value: str) -> dict[str, int]:
    """`ENGINE_MAX_ITEMS` as a mapping of lower-case engine names to positive counts."""
    limits: dict[str, int] = {}
    for pair in filter(None, (part.strip() for part in value.split(","))):
        name, _, count = pair.partition("=")
        if not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"{pair!r} is not ENGINE=COUNT with a positive whole COUNT")
        limits[name.strip().lower()] = int(count)
    return limits


class Settings(BaseSettings):
    """Every setting of the service; each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(
        default="sqlite:///./var/recommender.db",
        description="SQLAlchemy URL of the store: SQLite (embedded default) or PostgreSQL.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL of the Celery broker; unset runs background work in-process.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    log_level: LogLevel = Field(
        default="info",
        description="Logging level, in any case; `warn` and `fatal` are read as `warning` and "
        "`critical`.",
    )
    default_engine: str = Field(
        default="auto",
        description="Engine used when a request names none (changeable at run time); `auto` "
        "picks the active engine with the best measured quality.",
    )
    engine_fallback: str = Field(
        default="ncf,ease,ials,itemknn,bpr,popularity",
        description="Order in which engines are tried when the requested one has no model.",
    )
    sentry_dsn: SecretStr | None = Field(
        default=None, description="Sentry DSN; nothing is sent when unset."
    )
    sentry_environment: str = Field(
        default="production", description="Environment name reported to Sentry."
    )
    sentry_release: str | None = Field(
        default=None, description="Release reported to Sentry; unset uses the package version."
    )
    api_tokens: SecretStr | None = Field(
        default=None,
        description="Bearer tokens as `role:token` pairs, comma-separated; roles `admin` "
        "(everything) and `client` (recommendations and user actions). Unset: no "
        "authentication, allowed only on a loopback address.",
    )
    allow_anonymous: bool = Field(
        default=False,
        description="Allow serving without API_TOKENS on a non-loopback address.",
    )
    rate_limit_per_s: float = Field(
        default=200.0,
        ge=0,
        description="Sustained requests per second per client on the public endpoints; "
        "0 turns the limit off.",
    )
    rate_limit_burst: int = Field(
        default=400, ge=1, description="Requests a client may send at once above the rate."
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS (`*` for any)."
    )
    db_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest a database statement of a request may run (PostgreSQL).",
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="`json` (one object per line) or `text`."
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1_024, description="Largest request body on ordinary endpoints."
    )
    max_dump_bytes: int = Field(
        default=1_000_000_000, ge=1_024, description="Largest catalogue dump accepted."
    )
    refresh_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often a serving process checks for a new catalogue or model.",
    )

    job_time_limit_s: int = Field(
        default=7200, ge=10, description="A background job running longer than this is stopped."
    )
    task_heartbeat_timeout_s: int = Field(
        default=120,
        ge=5,
        description="A running job whose worker was silent this long is marked failed.",
    )
    artifact_dir: str | None = Field(
        default=None,
        description="Folder for model artifacts; unset keeps them in the database.",
    )
    gate_metric: str = Field(
        default="NDCG@10", description="Metric the quality gate compares between versions."
    )
    gate_margin: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="How much worse (relative) than the active version a new one may be.",
    )
    engine_params_file: str | None = Field(
        default=None,
        description="TOML or JSON file of hyper-parameters, one table per engine "
        "(as written by `recommender tune`); unset uses each engine's defaults.",
    )
    engine_max_items: str = Field(
        default="",
        description="Item limits replacing those engines declare, `ENGINE=COUNT` pairs "
        "comma-separated (`ease=30000`); a training above an engine's limit is refused, and "
        "skipped when every engine is trained. EASE declares 20,000 (about 15 GiB to fit).",
    )
    training_device: str = Field(
        default="cpu", description="PyTorch device for training: `cpu` or `cuda`."
    )
    weight_accessed: float = Field(
        default=1.0, ge=0, description="Training weight of a service a user accessed (dump)."
    )
    weight_project: float = Field(
        default=1.0, ge=0, description="Training weight of a service in a user's project."
    )
    weight_order: float = Field(default=2.0, ge=0, description="Training weight of an order.")
    weight_click: float = Field(
        default=0.5, ge=0, description="Training weight of a click on a service page."
    )
    reward_values: str = Field(
        default="",
        description="Reward of each page-transition label, `LABEL=NUMBER` pairs "
        "(`simple_transition`, `mild_interest`, `interest`, `order`, `unknown_transition`); "
        "labels not named keep their defaults.",
    )
    session_gap_s: int = Field(
        default=1800,
        ge=1,
        description="Silence after which a visitor's session is over: serving forgets what "
        "the session opened, the RL data set ends an episode there, and a served panel becomes "
        "a finished transition once the store has seen this long without its visitor.",
    )
    sessions: bool = Field(
        default=True,
        description="Whether what a visitor did in the current session (services opened and "
        "ordered) joins the history engines read and leaves the panel, with no retraining.",
    )
    session_exclude_opened: bool = Field(
        default=True,
        description="Whether services opened in the current session are left out of the "
        "panel (ordered ones always are).",
    )
    session_max_visitors: int = Field(
        default=100_000,
        ge=1,
        description="Visitors whose sessions one API process keeps when sessions live in the "
        "process (no REDIS_URL); the least recently active are forgotten first.",
    )
    session_max_events: int = Field(
        default=50, ge=1, description="Latest actions kept per visitor for its session."
    )
    train_interval: int = Field(
        default=0,
        ge=0,
        description="Seconds between scheduled retrainings of the learned engines (0: none "
        "on a clock).",
    )
    train_after_actions: int = Field(
        default=0,
        ge=0,
        description="Retrain the learned engines once this many user actions arrived since "
        "the last training (0: never on a count).",
    )
    train_engines: str = Field(
        default="",
        description="Comma-separated engines scheduled retraining fits; empty: every trainable "
        "engine.",
    )
    popularity_refit_s: float = Field(
        default=600.0,
        gt=0,
        description="Popularity follows each new order at once; this often one process also "
        "recounts it from the whole store and stores the counts, which every process reads.",
    )
    impression_retention_days: float = Field(
        default=0.0,
        ge=0,
        description="Impressions older than this many days are deleted, except those of "
        "running experiments (0: kept forever).",
    )
    action_retention_days: float = Field(
        default=0.0,
        ge=0,
        description="User actions older than this many days are deleted, except orders and "
        "the actions of running experiments' impressions (0: kept forever).",
    )
    retention_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="How often one process deletes what the retention windows let go.",
    )
    user_cache_size: int = Field(
        default=100_000,
        ge=0,
        description="Most users' profiles each API process keeps. A store with at most this "
        "many users is read whole at start-up (no request reads the store for a profile); "
        "with more, each profile is read from the store on first use and the least recently "
        "used dropped, so a process's memory does not grow with the users. 0 holds every "
        "user in memory, however many.",
    )

    # The databus (STOMP). The original recommender's names (RS_DATABUS_*) are read too, so
    # that its environment works unchanged.
    databus_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("databus_host", "rs_databus_host"),
        description="STOMP broker of the databus; unset turns `recommender subscribe` and "
        "publishing off.",
    )
    databus_port: int = Field(
        default=61613,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("databus_port", "rs_databus_port"),
        description="STOMP port of the broker.",
    )
    databus_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices("databus_username", "rs_databus_username"),
        description="Login on the broker; unset sends none.",
    )
    databus_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("databus_password", "rs_databus_password"),
        description="Passcode on the broker.",
    )
    databus_ssl: bool = Field(
        default=False,
        validation_alias=AliasChoices("databus_ssl", "rs_databus_ssl"),
        description="Talk to the broker over TLS.",
    )
    databus_vhost: str = Field(
        default="/",
        description="The STOMP `host` header: the virtual host on RabbitMQ.",
    )
    databus_actions_topic: str = Field(
        default="/topic/user_actions",
        min_length=1,
        validation_alias=AliasChoices("databus_actions_topic", "rs_databus_subscription_topic"),
        description="Destination `recommender subscribe` takes user actions from.",
    )
    databus_recommendations_topic: str | None = Field(
        default=None,
        validation_alias=AliasChoices("databus_recommendations_topic", "rs_databus_publish_topic"),
        description="Destination every served panel is published to; unset publishes nothing.",
    )
    databus_dead_letter_topic: str | None = Field(
        default=None,
        description="Destination a message that cannot be stored is also sent to, with the "
        "reason; the dead-letter table always gets it.",
    )
    databus_subscription: str = Field(
        default="recommender",
        min_length=1,
        max_length=200,
        description="Name of the durable subscription (and client id): the broker keeps "
        "messages for it while no subscriber runs.",
    )
    databus_prefetch: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Messages the broker may send before the first of them is acknowledged.",
    )
    databus_heartbeat_s: float = Field(
        default=10.0,
        ge=0,
        description="STOMP heart-beat interval in both directions; 0 turns heart-beats off.",
    )
    databus_reconnect_max_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait between two attempts to reach the broker (or the store).",
    )
    databus_publish_queue: int = Field(
        default=10_000,
        ge=1,
        description="Served panels waiting to be published; beyond it they are counted and "
        "dropped, never waited for.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_as_written(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        return LOG_LEVEL_ALIASES.get(word, word)

    @field_validator("log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("reward_values")
    @classmethod
    def _rewards_parse(cls, value: str) -> str:
        RewardValues.parse(value)
        return value

    @field_validator("engine_max_items")
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_max_items(value)
        return value

    @field_validator(
        "redis_url",
        "sentry_dsn",
        "sentry_release",
        "api_tokens",
        "artifact_dir",
        "engine_params_file",
        "databus_host",
        "databus_username",
        "databus_password",
        "databus_recommendations_topic",
        "databus_dead_letter_topic",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def rewards(self) -> RewardValues:
        return RewardValues.parse(self.reward_values)

    @property
    def scheduled_engines(self) -> list[str]:
        return [name.strip().lower() for name in self.train_engines.split(",") if name.strip()]

    @property
    def max_items_by_engine(self) -> dict[str, int]:
        return parse_max_items(self.engine_max_items)

    @property
    def fallback_order(self) -> list[str]:
        return [name.strip().lower() for name in self.engine_fallback.split(",") if name.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests clear the cache or pass their own.

    Raises `InvalidSettingsError`, whose message names each refused variable on one line."""
    try:
        return Settings()
    except ValidationError as error:
        raise InvalidSettingsError(explain(error, Settings.model_fields)) from None
