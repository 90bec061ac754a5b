"""Bodies of the experiment endpoints: a definition in, the experiment and its report out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from recommender.contract.common import Payload
from recommender.engines import name_pattern
from recommender.experiments import off_policy
from recommender.experiments.records import ExperimentRecord
from recommender.experiments.report import ArmReport, DayReport, ExperimentReport

ArmName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ArmIn(Payload):
    name: ArmName = Field(examples=["control"])
    # Any case and the original's aliases, as `engine_version`; the pattern says exactly which.
    engine: str = Field(
        min_length=1,
        max_length=64,
        examples=["popularity"],
        json_schema_extra={"pattern": name_pattern()},
    )
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="A registered version; none: the active one."
    )
    weight: float = Field(gt=0, le=1_000_000, description="Relative share of visitors.")


class ExperimentIn(Payload):
    name: str = Field(min_length=1, max_length=128, examples=["ncf-vs-popularity"])
    panels: list[Literal["v1", "v2"]] = Field(min_length=1, max_length=2)
    arms: list[ArmIn] = Field(min_length=2, max_length=20)
    min_effect: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Smallest difference in click-through rate worth detecting; the scale of "
        "the sequential test's mixture.",
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Chance of a false verdict.")


class ArmOut(BaseModel):
    name: str
    engine: str
    version: int | None
    weight: float


class ExperimentOut(BaseModel):
    id: int
    name: str
    status: str
    panels: list[str]
    arms: list[ArmOut]
    min_effect: float
    alpha: float
    created_at: datetime
    stopped_at: datetime | None
    promoted_arm: str | None

    @classmethod
    def of(cls, record: ExperimentRecord) -> ExperimentOut:
        return cls(
            id=record.id,
            name=record.name,
            status=record.status,
            panels=list(record.panels),
            arms=[ArmOut(**arm.__dict__) for arm in record.arms],
            min_effect=record.min_effect,
            alpha=record.alpha,
            created_at=record.created_at,
            stopped_at=record.stopped_at,
            promoted_arm=record.promoted_arm,
        )


class ExperimentList(BaseModel):
    count: int
    experiments: list[ExperimentOut]


class Rate(BaseModel):
    value: float
    low: float = Field(description="95 % interval, lower end.")
    high: float = Field(description="95 % interval, upper end.")


class Difference(Rate):
    likelihood_ratio: float = Field(
        description="The mSPRT statistic; a verdict is reached when it exceeds 1 / alpha."
    )


class ArmReportOut(BaseModel):
    name: str
    engine: str
    version: int | None
    weight: float
    visitors: int
    impressions: int
    clicks: int = Field(description="Impressions with an attributed click.")
    orders: int = Field(description="Impressions with an attributed order.")
    ctr: Rate
    order_rate: Rate
    ctr_difference: Difference | None = Field(description="Against the first arm.")
    order_rate_difference: Difference | None
    verdict: Literal["better", "worse"] | None = Field(
        description="The sequential test's verdict on CTR against the first arm, once reached."
    )

    @classmethod
    def of(cls, report: ArmReport) -> ArmReportOut:
        arm = report.arm
        return cls(
            name=arm.name,
            engine=arm.engine,
            version=arm.version,
            weight=arm.weight,
            visitors=report.visitors,
            impressions=report.impressions,
            clicks=report.clicks,
            orders=report.orders,
            ctr=Rate(**report.ctr.__dict__),
            order_rate=Rate(**report.order_rate.__dict__),
            ctr_difference=Difference(**report.ctr_difference.__dict__)
            if report.ctr_difference
            else None,
            order_rate_difference=Difference(**report.order_rate_difference.__dict__)
            if report.order_rate_difference
            else None,
            verdict=report.verdict,
        )


class DayOut(BaseModel):
    day: date
    arm: str
    visitors: int
    impressions: int
    ctr: Rate
    order_rate: Rate

    @classmethod
    def of(cls, day: DayReport) -> DayOut:
        return cls(
            day=day.day,
            arm=day.arm,
            visitors=day.visitors,
            impressions=day.impressions,
            ctr=Rate(**day.ctr.__dict__),
            order_rate=Rate(**day.order_rate.__dict__),
        )


class ReportOut(BaseModel):
    experiment: ExperimentOut
    method: str
    arms: list[ArmReportOut]
    days: list[DayOut]

    @classmethod
    def of(cls, report: ExperimentReport) -> ReportOut:
        return cls(
            experiment=ExperimentOut.of(report.experiment),
            method=report.method,
            arms=[ArmReportOut.of(arm) for arm in report.arms],
            days=[DayOut.of(day) for day in report.days],
        )


class EstimateOut(BaseModel):
    experiment_id: int
    engine: str = Field(description="The engine whose policy is estimated (canonical name).")
    method: Literal["arm", "slot", "item"] = Field(
        description="`arm`: the engine's arms weighted by their propensity; `slot` / `item`: "
        "the random arm's panels replayed with the engine, matched slot by slot or anywhere."
    )
    estimand: str
    ips: Rate = Field(description="Inverse propensity scoring, with its 95 % interval.")
    snips: Rate = Field(description="Self-normalised IPS, with its 95 % interval.")
    impressions: int = Field(description="Logged impressions the estimate averages over.")
    used: int = Field(description="Impressions with a non-zero weight.")
    visitors: int
    skipped: int = Field(
        description="Random-arm impressions left out: no stored context, or a service they "
        "drew from is no longer in the catalogue."
    )
    assumptions: str

    @classmethod
    def of(cls, estimate: off_policy.Estimate) -> EstimateOut:
        return cls(
            experiment_id=estimate.experiment_id,
            engine=estimate.engine,
            method=estimate.method,
            estimand=estimate.estimand,
            ips=Rate(**estimate.ips.__dict__),
            snips=Rate(**estimate.snips.__dict__),
            impressions=estimate.impressions,
            used=estimate.used,
            visitors=estimate.visitors,
            skipped=estimate.skipped,
            assumptions=estimate.assumptions,
        )
