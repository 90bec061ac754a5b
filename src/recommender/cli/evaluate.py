"""`recommender evaluate` and `recommender tune`: offline quality of engines on a data set."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recommender.cli.app import app
from recommender.cli.output import errors, progress_bar, report_error
from recommender.engines import UnknownEngineError, canonical_name
from recommender.evaluation.datasets import EvalDataset, Filters
from recommender.evaluation.metrics import METRIC_NAMES
from recommender.evaluation.params import (
    EngineParamSets,
    engine_params,
    parse_flags,
    read_params,
    write_params,
)
from recommender.evaluation.protocols import Split, split
from recommender.evaluation.readers import DatasetNotAvailableError, load_dataset
from recommender.evaluation.runner import Report, evaluate
from recommender.evaluation.tuning import Trial, tune


class DataFormat(StrEnum):
    csv = "csv"
    movielens_100k = "movielens-100k"
    movielens_1m = "movielens-1m"
    ncf = "ncf"
    store = "store"


class ProtocolName(StrEnum):
    sampled_loo = "sampled-loo"
    full_random = "full-random"
    temporal_loo = "temporal-loo"


DATA_OPTION = typer.Option(
    ..., "--data", help="File or folder of the data set (for the store: a database URL)."
)
FORMAT_OPTION = typer.Option(DataFormat.csv, "--format", help="How to read --data.")
PROTOCOL_OPTION = typer.Option(ProtocolName.sampled_loo, "--protocol", help="Evaluation protocol.")
MIN_RATING_OPTION = typer.Option(
    None, "--min-rating", help="Keep only ratings at or above this (default: every rating)."
)
K_CORE_OPTION = typer.Option(
    0, "--k-core", min=0, help="Repeatedly drop users and items with fewer interactions."
)
PARAM_OPTION = typer.Option(
    [], "--param", "-p", help="An engine parameter, ENGINE.NAME=VALUE; repeatable."
)

# Piped output gets a wide table rather than rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)


def _fail(message: str) -> typer.Exit:
    report_error(f"error: {message}")
    return typer.Exit(code=2)


def _prepare(
    data: str, fmt: DataFormat, protocol: ProtocolName, filters: Filters, seed: int
) -> tuple[EvalDataset, Split]:
    with errors.status(f"reading {fmt.value} data and splitting ({protocol.value})"):
        dataset = load_dataset(fmt.value, data, filters)
        return dataset, split(protocol.value, dataset, seed)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    )


def _report_table(report: Report, metrics: list[str]) -> Table:
    table = Table(
        title=f"{report.dataset} / {report.protocol} ({report.stats['test_users']} users)"
    )
    table.add_column("engine")
    labels = [f"{name}@{report.k}" for name in metrics]
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("score s", justify="right")
    for run in report.runs:
        table.add_row(
            run.engine,
            *(f"{run.metrics[label]:.4f}" for label in labels),
            f"{run.fit_s:.2f}",
            f"{run.score_s:.2f}",
        )
    return table


@app.command("evaluate")
def evaluate_command(
    data: str = DATA_OPTION,
    fmt: DataFormat = FORMAT_OPTION,
    protocol: ProtocolName = PROTOCOL_OPTION,
    engines: str = typer.Option(
        "popularity,itemknn,ease,ials,bpr", "--engines", help="Comma-separated engine names."
    ),
    k: int = typer.Option(10, "--k", min=1, help="Length of the ranked lists."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of every engine."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report as JSON."),
    config: Path | None = typer.Option(
        None, "--config", help="TOML or JSON file with one table of parameters per engine."
    ),
    param: list[str] = PARAM_OPTION,
    min_rating: float | None = MIN_RATING_OPTION,
    k_core: int = K_CORE_OPTION,
    metrics: str = typer.Option(
        ",".join(METRIC_NAMES), "--metrics", help="Comma-separated metric names."
    ),
) -> None:
    """Train engines on a data set and measure them with a standard protocol."""
    names = [name.strip() for name in engines.split(",") if name.strip()]
    wanted = [name.strip() for name in metrics.split(",") if name.strip()]
    try:
        canonical = [canonical_name(name) for name in names]
        params = engine_params(canonical, read_params(config) if config else {}, parse_flags(param))
        unknown = sorted(set(wanted) - set(METRIC_NAMES))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRIC_NAMES)}")
        dataset, data_split = _prepare(
            data, fmt, protocol, Filters(min_rating=min_rating, k_core=k_core), seed
        )
    except (DatasetNotAvailableError, UnknownEngineError, ValueError, OSError) as error:
        raise _fail(str(error)) from error
    with progress_bar("evaluating") as advance:
        report = evaluate(
            dataset, data_split, params, k=k, seed=seed, metrics=wanted, progress=advance
        )
    out.print(_report_table(report, wanted))
    if output is not None:
        output.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        errors.print(f"wrote {output}")


@app.command("tune")
def tune_command(
    engine: str = typer.Option(..., "--engine", help="The engine to tune."),
    data: str = DATA_OPTION,
    fmt: DataFormat = FORMAT_OPTION,
    protocol: ProtocolName = PROTOCOL_OPTION,
    trials: int = typer.Option(20, "--trials", min=1, help="Most candidates to try."),
    k: int = typer.Option(10, "--k", min=1),
    metric: str = typer.Option("NDCG", "--metric", help="Metric to maximise (at --k)."),
    seed: int = typer.Option(0, "--seed"),
    output: Path = typer.Option(
        Path("params.toml"), "--output", "-o", help="Config file to write the best parameters to."
    ),
    param: list[str] = PARAM_OPTION,
    min_rating: float | None = MIN_RATING_OPTION,
    k_core: int = K_CORE_OPTION,
) -> None:
    """Search an engine's parameters on a validation split carved out of the training data."""
    try:
        name = canonical_name(engine)
        fixed: EngineParamSets = parse_flags(param)
        dataset, data_split = _prepare(
            data, fmt, protocol, Filters(min_rating=min_rating, k_core=k_core), seed
        )
    except (DatasetNotAvailableError, UnknownEngineError, ValueError, OSError) as error:
        raise _fail(str(error)) from error
    table = Table(title=f"tuning {name} on the validation fold of {dataset.name}/{protocol.value}")
    table.add_column(f"{metric}@{k}", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("params")
    with _progress() as bar:
        task = bar.add_task(name, total=1.0, step="")

        def advance(done: int, total: int, trial: Trial | None) -> None:
            bar.update(task, completed=done / max(total, 1), step=f"trial {done}/{total}")
            if trial is not None:
                score = next(iter(trial.metrics.values()))
                table.add_row(f"{score:.4f}", f"{trial.fit_s:.1f}", json.dumps(trial.params))

        try:
            result = tune(
                name,
                data_split,
                trials=trials,
                k=k,
                metric=metric,
                seed=seed,
                fixed=fixed.get(name, {}),
                on_trial=advance,
            )
        except ValueError as error:
            raise _fail(str(error)) from error
    out.print(table)
    best: dict[str, Any] = result.best.params
    write_params(output, {name: best})
    out.print(f"best {result.metric} {result.best.metrics[result.metric]:.4f}: {json.dumps(best)}")
    errors.print(f"wrote {output}")


__all__ = ["evaluate_command", "tune_command"]
