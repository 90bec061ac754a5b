"""`recommender simulate`: engines compared online, in sessions of synthetic visitors."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from recommender.cli.app import app
from recommender.cli.output import console, progress_bar, report_error
from recommender.contract.recommendations import PANEL_SIZES
from recommender.contract.rewards import RewardValues
from recommender.engines import UnknownEngineError, canonical_name
from recommender.evaluation.params import engine_params, parse_flags, read_params
from recommender.simulation.online import OnlineSchedule
from recommender.simulation.policies import OraclePolicy
from recommender.simulation.runner import SimulationReport, simulate
from recommender.synthetic import SynthConfig

DEFAULT_ENGINES = "popularity,random,itemknn,ease,ials"
ORACLE = "oracle"


def report_table(report: SimulationReport) -> Table:
    """One row per engine: return with its interval, rates, and where the time went."""
    config = report.config
    table = Table(
        title=f"{len(config['seeds'])} marketplaces x {config['episodes']} sessions of "
        f"{config['steps']} panels ({config['panel_id']})"
    )
    table.add_column("engine", no_wrap=True)
    for column in ("return", "95% CI", "CTR", "order rate", "fit s", "run s"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, result in report.results.items():
        low, high = result.ci95
        table.add_row(
            name,
            f"{result.mean_return:.3f}",
            f"[{low:.3f}, {high:.3f}]",
            f"{result.ctr:.4f}",
            f"{result.order_rate:.4f}",
            f"{result.fit_s:.2f}",
            f"{result.run_s:.2f}",
        )
    return table


@app.command("simulate")
def simulate_command(
    engines: str = typer.Option(DEFAULT_ENGINES, "--engines", help="Comma-separated engines."),
    seeds: int = typer.Option(5, "--seeds", min=1, help="Marketplaces to average over."),
    first_seed: int = typer.Option(0, "--seed", min=0, help="Seed of the first marketplace."),
    services: int = typer.Option(200, "--services", min=1, help="Services per marketplace."),
    users: int = typer.Option(1000, "--users", min=1, help="Registered users per marketplace."),
    days: int = typer.Option(30, "--days", min=1, help="Days of logged activity to train on."),
    episodes: int = typer.Option(1000, "--episodes", min=1, help="Sessions per marketplace."),
    steps: int = typer.Option(5, "--steps", min=1, help="Panels per session."),
    panel: str = typer.Option("v1", "--panel", help="Panel layout: v1 (3 services) or v2 (2)."),
    rewards: str = typer.Option(
        "", "--rewards", help="Reward values, LABEL=NUMBER pairs (`order=2,mild_interest=0.3`)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="TOML or JSON file with one table of parameters per engine."
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="An engine parameter, ENGINE.NAME=VALUE; repeatable."
    ),
    device: str = typer.Option("cpu", "--device", help="PyTorch device for training."),
    oracle: bool = typer.Option(
        False, "--oracle", help="Also run the oracle (the visitors' true tastes): the ceiling."
    ),
    online_episodes: int = typer.Option(
        0,
        "--online-episodes",
        min=0,
        help="Sessions the rl engine plays (with exploration, in an environment of another "
        "seed) and learns from after its offline fit; 0 trains it offline only.",
    ),
    browse: bool = typer.Option(
        False, "--browse", help="Visitors also open search results beside each panel."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report as JSON."),
) -> None:
    """Train engines on synthetic marketplaces and measure what their panels earn online."""
    try:
        names = [canonical_name(name) for name in engines.split(",") if name.strip()]
        if not names:
            raise ValueError("--engines names no engine")
        if panel not in PANEL_SIZES:
            raise ValueError(f"unknown panel {panel!r}; expected one of {sorted(PANEL_SIZES)}")
        params = engine_params(names, read_params(config) if config else {}, parse_flags(param))
        values = RewardValues.parse(rewards)
        market = SynthConfig(services=services, users=users, days=days, seed=first_seed)
    except (UnknownEngineError, ValueError, OSError) as error:
        report_error(f"error: {error}")
        raise typer.Exit(code=2) from None
    with progress_bar("simulating") as update:
        report = simulate(
            market,
            names,
            list(range(first_seed, first_seed + seeds)),
            episodes,
            steps,
            params=params,
            panel_id=panel,
            rewards=values,
            device=device,
            references={ORACLE: OraclePolicy.of} if oracle else None,
            online=OnlineSchedule(episodes=online_episodes) if online_episodes else None,
            browse=browse,
            progress=update,
        )
    console.print(report_table(report))
    if output is not None:
        output.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {output}")


__all__ = ["report_table", "simulate_command"]
