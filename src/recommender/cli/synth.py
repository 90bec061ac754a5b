"""`recommender synth`: generate a synthetic marketplace on the real EOSC catalogue."""

from __future__ import annotations

import time
from datetime import datetime
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console

from recommender.cli.app import app
from recommender.cli.output import progress_bar
from recommender.synthetic import SynthConfig, generate, save, write, write_bundle

# The committed demo marketplace: the real services, a few hundred users, a week of activity.
DEMO_CONFIG = SynthConfig(services=58, users=200, days=7, seed=20250101, sessions_per_day=0.07)
DEMO_FIXTURE = "demo_marketplace.json"


def demo_fixture_path() -> Path:
    """Where the packaged demo marketplace lives in this checkout or installation."""
    return Path(str(resources.files("recommender").joinpath("fixtures", DEMO_FIXTURE)))


@app.command("synth")
def synth(
    services: int = typer.Option(200, min=1, help="Services in the catalogue."),
    users: int = typer.Option(1000, min=1, help="Registered users."),
    days: int = typer.Option(30, min=1, help="Days of simulated activity."),
    seed: int = typer.Option(0, min=0, help="Random seed: the same options give the same files."),
    output: Path | None = typer.Option(
        None,
        help="Directory for dump.json, user_actions.jsonl, recommendations.jsonl and "
        "ground_truth.json.",
    ),
    start: datetime = typer.Option(
        datetime(2025, 1, 1), formats=["%Y-%m-%d"], help="First day of the window (UTC)."
    ),
    anonymous_share: float = typer.Option(0.3, min=0, help="Anonymous visitors per user."),
    cold_start_share: float = typer.Option(0.15, min=0, max=1, help="Users with no history."),
    sessions_per_day: float = typer.Option(0.05, min=0.0001, help="Visits per user and day."),
    epsilon: float = typer.Option(
        0.3, min=0, max=1, help="Share of panel slots the logging policy fills at random."
    ),
    bundle: Path | None = typer.Option(
        None,
        help="Write one JSON file {dump, user_actions, recommendations}, as the demo "
        "reads it (small runs: built in memory).",
    ),
    demo_fixture: bool = typer.Option(
        False, "--demo-fixture", help="Regenerate the packaged demo marketplace and exit."
    ),
) -> None:
    """Generate a synthetic marketplace: catalogue dump, user actions, panels and ground truth."""
    console = Console(stderr=True)
    if demo_fixture:
        path = demo_fixture_path()
        size = write_bundle(generate(DEMO_CONFIG), path)
        console.print(f"wrote {path} ({size / 1024:.0f} KiB)")
        return
    if output is None and bundle is None:
        raise typer.BadParameter("give --output DIR, --bundle FILE or --demo-fixture")
    config = SynthConfig(
        services=services,
        users=users,
        days=days,
        seed=seed,
        start=start.date(),
        anonymous_share=anonymous_share,
        cold_start_share=cold_start_share,
        sessions_per_day=sessions_per_day,
        logging_epsilon=epsilon,
    )
    began = time.perf_counter()
    with progress_bar("generating") as progress:
        if bundle is None:
            assert output is not None
            counts = write(config, output, progress=progress)
        else:
            market = generate(config, progress=progress)
            counts = market.counts
            write_bundle(market, bundle)
            if output is not None:
                save(market, output)
    console.print(
        f"{counts.services} services, {counts.users} users ({counts.cold_start_users} cold start),"
        f" {counts.visitors} anonymous visitors: {counts.sessions} sessions,"
        f" {counts.user_actions} user actions, {counts.recommendations} panels,"
        f" {counts.orders} orders in {time.perf_counter() - began:.1f} s"
    )
    if output is not None:
        console.print(f"written to {output}")


__all__ = ["synth"]
