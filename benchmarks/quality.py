"""The standard offline-quality table: every engine on MovieLens with published anchors.

Runs ML-1M on the NCF split (sampled-loo, shipped negatives), ML-1M full ranking (RecBole's
protocol: rating >= 3, 10-core, random 80/10/10) and ML-100K full ranking, with each case's
tuned parameters from `benchmarks/params/<case>.toml` (written by `recommender tune` on
validation folds), and rewrites the `## Offline quality` section of `docs/benchmarks.md`.

    python benchmarks/quality.py [--cases ml-1m-ncf,...] [--engines ...] [--json-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from recommender.evaluation.datasets import Filters
from recommender.evaluation.params import engine_params, read_params
from recommender.evaluation.protocols import split
from recommender.evaluation.readers import load_dataset
from recommender.evaluation.runner import Report, evaluate
from recommender.training.plots import curves_png

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Offline quality"
ENGINES = ("random", "popularity", "itemknn", "ease", "ials", "bpr", "ncf", "rl")


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    fmt: str
    path: str
    protocol: str
    filters: Filters = field(default_factory=Filters)
    # engine -> (published HR@10 or None, published NDCG@10, who published it)
    anchors: dict[str, tuple[float | None, float | None, str]] = field(default_factory=dict)


CASES = (
    Case(
        name="ml-1m-ncf",
        title="MovieLens 1M, NCF split, held-out latest item vs its 99 shipped negatives",
        fmt="ncf",
        path="movielens-1m/ncf-protocol",
        protocol="sampled-loo",
        anchors={
            "popularity": (0.453, 0.254, "TopPop, Dacrema et al. 2019"),
            "itemknn": (0.660, 0.390, "ItemKNN, Dacrema et al. 2019"),
            "ease": (0.690, 0.429, "PureSVD, Dacrema et al. 2019 (no EASE number published)"),
            "ials": (0.729, 0.452, "tuned MF, Rendle et al. 2020"),
            "ncf": (0.730, 0.447, "NeuMF with pre-training, He et al. 2017"),
            "rl": (0.502, None, "best published DDPG list-wise recommender"),
        },
    ),
    Case(
        name="ml-1m-full-random",
        title="MovieLens 1M, rating >= 3, 10-core, random 80/10/10, full ranking",
        fmt="movielens-1m",
        path="movielens-1m",
        protocol="full-random",
        filters=Filters(min_rating=3, k_core=10),
        anchors={
            "popularity": (None, 0.101, "Pop, RecBole"),
            "itemknn": (None, 0.239, "ItemKNN, RecBole"),
            "ease": (None, 0.287, "EASE, RecBole"),
            "ials": (None, 0.241, "matrix factorisation: BPR, RecBole (no iALS number)"),
            "bpr": (None, 0.241, "BPR, RecBole"),
            "ncf": (None, 0.229, "NeuMF, RecBole (0.229-0.239)"),
        },
    ),
    Case(
        name="ml-100k-full-random",
        title="MovieLens 100K, every rating, random 80/10/10, full ranking",
        fmt="movielens-100k",
        path="movielens-100k",
        protocol="full-random",
    ),
)


def data_dir() -> Path:
    return Path(os.environ.get("RECOMMENDER_DATA_DIR", REPO.parent / "shared" / "data"))


def run_case(case: Case, engines: list[str], seed: int) -> Report:
    data = load_dataset(case.fmt, data_dir() / case.path, case.filters)
    folds = split(case.protocol, data, seed)
    tuned = REPO / "benchmarks" / "params" / f"{case.name}.toml"
    params = engine_params(engines, read_params(tuned) if tuned.exists() else {})

    started: list[str] = []

    def say(fraction: float, message: str) -> None:
        engine = message.partition(":")[0]
        if engine not in started:
            started.append(engine)
            print(f"  {engine} ...", file=sys.stderr)

    return evaluate(data, folds, params, k=10, seed=seed, progress=say)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def case_markdown(case: Case, report: Report) -> str:
    stats = report.stats
    lines = [
        f"### {case.title}",
        "",
        f"`{case.name}`: {stats['users']:,} users, {stats['items']:,} items, "
        f"{stats['interactions']:,} interactions after filtering, "
        f"{stats['test_users']:,} test users.",
        "",
        "| engine | HR@10 | NDCG@10 | Recall@10 | MRR@10 | Coverage@10 | Gini@10 | fit s "
        "| score s | published HR@10 / NDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in report.runs:
        m = run.metrics
        anchor = case.anchors.get(run.engine)
        published = (
            f"{_fmt(anchor[0])} / {_fmt(anchor[1])} ({anchor[2]})" if anchor is not None else ""
        )
        lines.append(
            f"| {run.engine} | {m['HR@10']:.4f} | {m['NDCG@10']:.4f} | {m['Recall@10']:.4f} "
            f"| {m['MRR@10']:.4f} | {m['Coverage@10']:.3f} | {m['Gini@10']:.3f} "
            f"| {run.fit_s:.1f} | {run.score_s:.2f} | {published} |"
        )
    lines.append("")
    params = {run.engine: run.params for run in report.runs if run.params}
    lines.append(f"Parameters: `{json.dumps(params, sort_keys=True)}`")
    lines.append("")
    return "\n".join(lines)


def plot_curves(case: Case, report: Report, folder: Path) -> str:
    """Write each engine's training curves as a PNG; markdown lines that link them."""
    lines = []
    for run in report.runs:
        image = curves_png(run.curves, f"{run.engine} on {case.name}") if run.curves else None
        if image is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"curves-{run.engine}-{case.name}.png"
        path.write_bytes(image)
        link = os.path.relpath(path, REPO / "docs")
        lines.append(f"Training curves of `{run.engine}` (early-stopping fit): [{link}]({link})")
    return ("\n".join(lines) + "\n") if lines else ""


def replace_section(document: str, section: str) -> str:
    """Swap our section for a new one, leaving every other section of the file alone."""
    if SECTION not in document:
        return document.rstrip("\n") + "\n\n" + section if document.strip() else section
    head, _, rest = document.partition(SECTION)
    following = rest.find("\n## ")
    tail = rest[following + 1 :] if following >= 0 else ""
    return head + section + ("\n" + tail if tail else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(case.name for case in CASES))
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json-dir", type=Path, default=None, help="Also write each report.")
    parser.add_argument(
        "--plots",
        type=Path,
        default=REPO / "docs" / "images",
        help="Where the training curves of engines that record them go, as PNG.",
    )
    args = parser.parse_args()
    engines = [name for name in args.engines.split(",") if name]
    wanted = set(args.cases.split(","))
    parts = []
    began = time.perf_counter()
    for case in CASES:
        if case.name not in wanted:
            continue
        print(f"{case.name}", file=sys.stderr)
        report = run_case(case, engines, args.seed)
        if args.json_dir is not None:
            args.json_dir.mkdir(parents=True, exist_ok=True)
            (args.json_dir / f"{case.name}.json").write_text(
                json.dumps(report.to_json(), indent=2) + "\n"
            )
        parts.append(case_markdown(case, report) + plot_curves(case, report, args.plots))
        print(case_markdown(case, report))
    elapsed = time.perf_counter() - began
    header = [
        SECTION,
        "",
        "Measured by `.venv/bin/python benchmarks/quality.py` (seed 0) on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores, in {elapsed / 60:.1f} minutes. "
        "Fit and score times are wall-clock seconds for the whole training set and for scoring "
        "every test user's catalogue. Parameters come from `benchmarks/params/<case>.toml`, "
        "written by `recommender tune` on each protocol's validation fold (never the test).",
        "",
    ]
    section = "\n".join(header) + "\n" + "\n".join(parts)
    if wanted == {case.name for case in CASES} and set(engines) == set(ENGINES):
        args.output.parent.mkdir(parents=True, exist_ok=True)
        document = args.output.read_text() if args.output.exists() else "# Benchmarks\n"
        args.output.write_text(replace_section(document, section))
        print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
