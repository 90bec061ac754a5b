"""`recommender experiments`: A/B experiments from the terminal, as over HTTP."""

from __future__ import annotations

import re

import typer
from rich.table import Table

from recommender.cli.app import app
from recommender.cli.output import console, report_error
from recommender.config import get_settings
from recommender.experiments import lifecycle, records, report
from recommender.experiments.assignment import Arm
from recommender.runtime import Runtime
from recommender.serving import replay
from recommender.store import migrate
from recommender.store.database import Database

experiments_app = typer.Typer(
    help="A/B experiments: list, start, show the report, estimate an engine off-policy, stop, "
    "promote an arm.",
    invoke_without_command=True,
)
app.add_typer(experiments_app, name="experiments")

# name=engine[:version][@weight]
_ARM = re.compile(
    r"^(?P<name>[A-Za-z0-9_.:-]+)=(?P<engine>[A-Za-z0-9_]+)(?::(?P<version>\d+))?(?:@(?P<weight>[0-9.]+))?$"
)


def _store() -> Database:
    db = Database(get_settings().database_url, pool_size=1)
    migrate.upgrade(db.engine)
    return db


def parse_arm(text: str) -> Arm:
    """`control=popularity`, `new=ncf:3@2` (engine ncf version 3, weight 2)."""
    match = _ARM.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not NAME=ENGINE[:VERSION][@WEIGHT]")
    version = match["version"]
    return Arm(
        name=match["name"],
        engine=match["engine"],
        version=int(version) if version else None,
        weight=float(match["weight"] or 1.0),
    )


def _fail(error: Exception) -> typer.Exit:
    report_error(error)
    return typer.Exit(code=1)


@experiments_app.callback()
def list_experiments(ctx: typer.Context) -> None:
    """List every experiment."""
    if ctx.invoked_subcommand is not None:
        return
    db = _store()
    try:
        with db.engine.connect() as conn:
            found = records.listing(conn)
    finally:
        db.dispose()
    table = Table("id", "name", "status", "panels", "arms", "started")
    for record in found:
        table.add_row(
            str(record.id),
            record.name,
            record.status + (f" ({record.promoted_arm})" if record.promoted_arm else ""),
            ", ".join(record.panels),
            ", ".join(
                f"{a.name}={a.engine}{f':{a.version}' if a.version else ''}@{a.weight:g}"
                for a in record.arms
            ),
            f"{record.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@experiments_app.command("start")
def start(
    name: str = typer.Argument(..., help="A name of its own."),
    arm: list[str] = typer.Option(
        ..., "--arm", help="NAME=ENGINE[:VERSION][@WEIGHT]; the first is the control."
    ),
    panel: list[str] = typer.Option(["v1"], "--panel", help="Panels it covers."),
    min_effect: float = typer.Option(0.01, help="Smallest CTR difference worth detecting."),
    alpha: float = typer.Option(0.05, help="Chance of a false verdict."),
) -> None:
    """Start an experiment: visitors of the panels are split between the arms."""
    spec = records.ExperimentSpec(
        name=name,
        panels=tuple(dict.fromkeys(panel)),
        arms=tuple(parse_arm(text) for text in arm),
        min_effect=min_effect,
        alpha=alpha,
    )
    db = _store()
    try:
        record = lifecycle.start(db, spec)
    except records.InvalidExperimentError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    console.print(f"experiment {record.id} ({record.name}) is running on {', '.join(spec.panels)}")


@experiments_app.command("show")
def show(experiment_id: int = typer.Argument(...)) -> None:
    """The per-arm report: visitors, impressions, clicks, orders, rates, verdict."""
    db = _store()
    try:
        found = report.current(db, experiment_id)
    except records.ExperimentNotFoundError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    table = Table(
        "arm",
        "engine",
        "visitors",
        "impressions",
        "clicks",
        "orders",
        "CTR [95 %]",
        "order rate [95 %]",
        "CTR vs first [95 %]",
        "verdict",
        title=f"{found.experiment.name} ({found.experiment.status})",
    )
    for arm in found.arms:
        diff = arm.ctr_difference
        table.add_row(
            arm.arm.name,
            arm.arm.engine + (f" v{arm.arm.version}" if arm.arm.version else ""),
            str(arm.visitors),
            str(arm.impressions),
            str(arm.clicks),
            str(arm.orders),
            f"{arm.ctr.value:.4f} [{arm.ctr.low:.4f}, {arm.ctr.high:.4f}]",
            f"{arm.order_rate.value:.4f} [{arm.order_rate.low:.4f}, {arm.order_rate.high:.4f}]",
            "" if diff is None else f"{diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]",
            arm.verdict or "",
        )
    console.print(table)
    console.print(found.method)


@experiments_app.command("estimate")
def estimate(
    experiment_id: int = typer.Argument(...),
    engine: str = typer.Option(..., "--engine", help="The engine whose click rate to estimate."),
    method: str | None = typer.Option(
        None,
        help="arm (the engine's arms by their propensity), slot or item (the random arm's "
        "panels replayed with the engine); default: arm if an arm serves it, else slot.",
    ),
) -> None:
    """Off-policy estimate (IPS and SNIPS) of an engine's click rate on the experiment's log."""
    settings = get_settings()
    runtime = Runtime(settings)
    try:
        runtime.start(poll=False)
        with runtime.db.snapshot() as conn:
            found = replay.estimate(
                runtime.serving.current,
                conn,
                experiment_id,
                engine,
                settings.fallback_order,
                method,
            )
    except (records.ExperimentNotFoundError, records.InvalidExperimentError) as error:
        raise _fail(error) from None
    finally:
        runtime.close()
    table = Table(
        "estimator",
        "value [95 %]",
        title=f"{found.engine} on experiment {found.experiment_id} ({found.method}): "
        f"{found.estimand}",
    )
    for name, value in (("IPS", found.ips), ("SNIPS", found.snips)):
        table.add_row(name, f"{value.value:.4f} [{value.low:.4f}, {value.high:.4f}]")
    console.print(table)
    console.print(
        f"{found.impressions} impressions of {found.visitors} visitors, {found.used} with a "
        f"non-zero weight, {found.skipped} left out"
    )
    console.print(found.assumptions)


@experiments_app.command("stop")
def stop(experiment_id: int = typer.Argument(...)) -> None:
    """Stop an experiment: every visitor gets the default again."""
    db = _store()
    try:
        record = lifecycle.stop(db, experiment_id)
    except (records.ExperimentNotFoundError, records.NotRunningError) as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    console.print(f"experiment {record.id} stopped")


@experiments_app.command("promote")
def promote(experiment_id: int = typer.Argument(...), arm: str = typer.Argument(...)) -> None:
    """Make an arm's engine (and version) the default, and end the experiment."""
    db = _store()
    try:
        record = lifecycle.promote(db, experiment_id, arm)
    except (
        records.ExperimentNotFoundError,
        records.NotRunningError,
        records.InvalidExperimentError,
    ) as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    chosen = record.arm(arm)
    console.print(f"{chosen.engine} is the default engine now; experiment {record.id} ended")
