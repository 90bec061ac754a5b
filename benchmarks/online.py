"""The online loop over HTTP: synthetic visitors use the real server, an A/B experiment splits
them between engines, and scheduled retraining learns from what they did.

    .venv/bin/python -m benchmarks.online --seeds 5                  # embedded (SQLite)
    .venv/bin/python -m benchmarks.online --seeds 1 --stack postgres # PostgreSQL + Redis,
                                                                     # 2 API workers, a worker

Per seed: a synthetic marketplace (`--services`, `--users`, `--history-days` of logged
activity) is loaded into a fresh store, the arms' engines are trained on that history, the
server starts with scheduled retraining (`TRAIN_AFTER_ACTIONS`, about one training a day) and
an experiment with one arm per engine (`--arms`, equal weights). Then `--days` simulated
days of `--sessions` visitor sessions each: every panel is a `POST /recommendations`, every
click and order a `POST /user_actions`; after each day the benchmark waits for the scheduled
training to finish. The per-arm, per-day figures are the server's own experiment report.

Afterwards the same anonymous visitors (`--anonymous` sessions, common random numbers) ask a
server with sessions on and one with sessions off (`--session-variants`), naming each
history-reading engine of `--session-engines`, and the offline simulator (the same
marketplace, engines fitted on its whole log) ranks the same engines, to compare with the
online ranking. `--sessions-only` skips the experiment's days (and the offline ranking): the
comparison then asks engines trained on the logged history alone.

Visitors browse (`--browse`, the default): beside each panel they see the search's first page
of results, and what they open there is posted as a page visit from the list, which joins
their session as a panel click does (`MarketplaceEnv(browse=True)`). `--no-browse` gives
visitors who only click panels, as the figures measured before browsing existed.

An arm named `engine:version` (`--arms popularity,rl,rl:1`) serves that version of the
engine for the whole experiment while the arm named after the engine follows its retrained
versions: the difference is what the scheduled retraining did, on the same days' visitors.

`--no-history` is a portal that starts with the recommender: the catalogue is loaded but not
the logged history, so every arm serves popularity's fallback until the first scheduled
training (after about a day's actions) gives the learned engines a first version, trained on
the experiment's own panels and actions.

With a `random` arm (`--arms popularity,random,ncf`), the server's off-policy estimates of
the other arms' engines (or `--estimate`), replaying the random arm's panels, are taken at the
end of the last day and set beside each arm's measured rate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
from sqlalchemy import create_engine, text

from benchmarks.server import BIN, recommender, running_server
from recommender.simulation import simulate
from recommender.simulation.environment import MarketplaceEnv
from recommender.simulation.visitors import Panel, anonymous_episodes, run_sessions
from recommender.synthetic import SynthConfig, SyntheticMarketplace, generate

POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test"
)
# A database of its own: each seed's experiment empties it first.
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DAY = timedelta(days=1)
# Expected user actions per panel: from panel clicks and orders, and from browsing.
PANEL_ACTIONS = 0.4
OPENED_ACTIONS = 0.8
# The servers the sessions comparison asks: the name `--session-variants` gives each, the
# name its figures go under, and its settings.
SESSION_VARIANTS = {
    "off": ("off", {"SESSIONS": "false"}),
    "on": ("on", {"SESSIONS": "true", "SESSION_EXCLUDE_OPENED": "true"}),
    "again": (
        "on, opened shown again",
        {"SESSIONS": "true", "SESSION_EXCLUDE_OPENED": "false"},
    ),
}


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval over seeds (the half-width is 0 for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    quantiles = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365}
    half = quantiles.get(len(values), 2.0) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def write_activity(market: SyntheticMarketplace, folder: Path) -> tuple[Path, Path, Path]:
    dump = folder / "dump.json"
    dump.write_bytes(orjson.dumps(market.dump))
    panels = folder / "recommendations.jsonl"
    panels.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in market.recommendations))
    actions = folder / "user_actions.jsonl"
    actions.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in market.user_actions))
    return dump, panels, actions


@contextmanager
def postgres_database() -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"bench_online_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                str(BIN / "recommender"),
                "worker",
                "--pool",
                "solo",
                "--beat",
                "--schedule-file",
                str(log.with_suffix(".beat")),
            ],
            env={**os.environ, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for_training(client: httpx.Client, since: datetime, timeout_s: float) -> list[str]:
    """Wait until the scheduled trainings started after `since` have finished; returns them."""
    deadline = time.monotonic() + timeout_s
    appeared_by = time.monotonic() + 20
    while True:
        tasks = client.get("/tasks", params={"limit": 20}).json()["tasks"]
        scheduled = [
            t
            for t in tasks
            if t["args"].get("trigger") == "schedule"
            and datetime.fromisoformat(t["created_at"]) >= since
        ]
        running = [t for t in tasks if t["state"] in ("queued", "running")]
        if scheduled and not running:
            return [f"{t['id']}: {t['state']}" for t in scheduled]
        if not scheduled and time.monotonic() > appeared_by:
            return []
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduled training did not finish")
        time.sleep(1.0)


def rates(panels: list[Panel]) -> dict[str, float]:
    shown = sum(p.shown for p in panels)
    expected = sum(p.expected for p in panels)
    return {
        "panels": len(panels),
        "ctr_per_panel": sum(p.clicked > 0 for p in panels) / max(len(panels), 1),
        # The choice model's own P(a click) of each panel shown, and its share of the best
        # panel's on the same page: no draw noise, and the pages' difficulty factored out.
        "expected_ctr_per_panel": expected / max(len(panels), 1),
        "share_of_best": expected / max(sum(p.best for p in panels), 1e-12),
        "clicks_per_panel": sum(p.clicked for p in panels) / max(len(panels), 1),
        "ctr_per_shown": sum(p.clicked for p in panels) / max(shown, 1),
        "orders_per_shown": sum(p.ordered for p in panels) / max(shown, 1),
    }


def estimates(client: httpx.Client, experiment: int, engines: list[str]) -> dict[str, Any]:
    """The server's off-policy estimates of each engine, replaying the random arm's panels slot
    by slot and anywhere in the panel, and at arm level where the engine is an arm."""
    found: dict[str, Any] = {}
    for engine in engines:
        for method in ("slot", "item", "arm"):
            response = client.get(
                f"/experiments/{experiment}/estimates",
                params={"engine": engine, "method": method},
            )
            found[f"{engine}/{method}"] = (
                response.json() if response.status_code == 200 else {"error": response.text}
            )
    return found


def names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def arm_engine(arm: str) -> tuple[str, int | None]:
    """The engine an arm serves and the version it is held at (`rl:1`), if any."""
    engine, _, version = arm.partition(":")
    return engine, int(version) if version else None


def engines_to_train(args: argparse.Namespace, arms: list[str]) -> list[str]:
    """The learned engines the arms and the sessions comparison ask for, each once."""
    wanted = [] if args.sessions_only else [arm_engine(a)[0] for a in arms]
    wanted += names(args.session_engines)
    return [name for name in dict.fromkeys(wanted) if name not in ("popularity", "random")]


def run_seed(seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    config = SynthConfig(
        services=args.services, users=args.users, days=args.history_days, seed=seed
    )
    market = generate(config)
    dump, panels_file, actions_file = write_activity(market, work)
    arms = names(args.arms)
    out: dict[str, Any] = {
        "seed": seed,
        "arms": arms,
        "browse": args.browse,
        "history": args.history,
    }
    with ExitStack() as stack:
        # The store outlives the experiment's servers: the sessions comparison reads it too.
        if args.stack == "postgres":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{work / 'online.db'}"
        base = {
            "DATABASE_URL": url,
            "RATE_LIMIT_PER_S": "0",
            "REFRESH_INTERVAL_S": "0.5",
            "SESSION_GAP_S": "1800",
        }
        if args.params:
            base["ENGINE_PARAMS_FILE"] = str(Path(args.params).resolve())
        began = time.perf_counter()
        recommender("load-dump", str(dump), env=base)
        if args.history:
            recommender(
                "import-activity",
                "--recommendations",
                str(panels_file),
                "--actions",
                str(actions_file),
                env=base,
            )
            for name in engines_to_train(args, arms):
                recommender("train", name, env=base)
            for name in engines_to_train(args, []):
                # The comparison asks for the engine by name: held back by the quality gate
                # (itemknn often is), its requests would go to another engine. Its first and
                # only version, in this fresh store, serves.
                recommender("models", "activate", name, "1", env=base)
        out["prepare_s"] = round(time.perf_counter() - began, 1)
        episode = 0
        if not args.sessions_only:
            episode = run_experiment(args, market, base, out, work)
        out["sessions"] = sessions_on_off(args, market, base, seed, episode)
    if args.offline and not args.sessions_only:
        offline = simulate(
            config,
            list(dict.fromkeys(arm_engine(a)[0] for a in arms)),
            [seed],
            episodes=args.offline_episodes,
            steps=args.steps,
            browse=args.browse,
        )
        out["offline"] = {
            name: {"mean_return": r.mean_return, "ctr": r.ctr, "order_rate": r.order_rate}
            for name, r in offline.results.items()
        }
    return out


def arm_spec(arm: str) -> dict[str, Any]:
    engine, version = arm_engine(arm)
    spec: dict[str, Any] = {"name": arm, "engine": engine, "weight": 1}
    return spec if version is None else spec | {"version": version}


def run_experiment(
    args: argparse.Namespace,
    market: SyntheticMarketplace,
    base: dict[str, str],
    out: dict[str, Any],
    work: Path,
) -> int:
    """The experiment's days against a server with scheduled retraining (and, on the
    PostgreSQL stack, its worker), both stopped at the end; returns the episodes played."""
    seed, arms, config = market.config.seed, out["arms"], market.config
    learned = list(
        dict.fromkeys(
            engine for engine, _ in map(arm_engine, arms) if engine not in ("popularity", "random")
        )
    )
    per_panel = args.clicks_per_panel
    if per_panel is None:
        # Panel clicks and orders; browsing visitors also open about 0.7 search results a
        # page (seed 0) and order some of them.
        per_panel = PANEL_ACTIONS + (OPENED_ACTIONS if args.browse else 0.0)
    actions_per_day = args.sessions * args.steps * per_panel
    serving = {
        **base,
        "TRAIN_AFTER_ACTIONS": str(max(round(actions_per_day), 1)),
        "TRAIN_ENGINES": ",".join(learned),
    }
    with ExitStack() as stack:
        extra: tuple[str, ...] = ()
        if args.stack == "postgres":
            serving["REDIS_URL"] = REDIS
            # Sessions are decided on the simulated times, which every run of a seed shares:
            # an earlier run's sessions (and queued tasks) would join this one's.
            redis.Redis.from_url(REDIS).flushdb()
            stack.enter_context(worker(serving, work / "worker.log"))
            extra = ("--workers", str(args.workers))
        port = stack.enter_context(running_server(serving, *extra))
        client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60))
        # A visitor's arm is a hash of the experiment's id and the visitor, and every fresh
        # store numbers its first experiment 1: without these, user 17 (say) would be in the
        # same arm in every seed, and the seeds would not be independent splits.
        for placeholder in range(seed):
            made = client.post(
                "/experiments",
                json={
                    "name": f"placeholder-{placeholder}",
                    "panels": ["v1"],
                    "arms": [arm_spec(a) for a in arms],
                },
            ).json()
            client.post(f"/experiments/{made['id']}/stop").raise_for_status()
        experiment = client.post(
            "/experiments",
            json={
                "name": f"online-{seed}",
                "panels": ["v1"],
                "arms": [arm_spec(a) for a in arms],
            },
        ).json()
        env = MarketplaceEnv(market, steps=args.steps, seed=seed, browse=args.browse)
        first_day = datetime.combine(
            config.start + timedelta(days=config.days), datetime.min.time(), UTC
        )
        daily: list[dict[str, Any]] = []
        episode = 0
        all_panels: list[Panel] = []
        ordered: dict[int, set[int]] = {}
        for day in range(args.days):
            day_start = first_day + day * DAY
            wall = datetime.now(UTC)
            began = time.perf_counter()
            panels = run_sessions(
                client,
                env,
                range(episode, episode + args.sessions),
                start=day_start,
                session_spacing_s=86_400 / args.sessions,
                ordered=ordered,
            )
            episode += args.sessions
            all_panels += panels
            serve_s = time.perf_counter() - began
            if day == args.days - 1 and "random" in arms:
                # Before the day's scheduled training: the models replayed are the ones
                # that served the arms at the end of the experiment.
                targets = [a for a in arms if a != "random"] if args.estimate is None else []
                targets += names(args.estimate or "")
                out["estimates"] = estimates(client, experiment["id"], targets)
            began = time.perf_counter()
            trained = wait_for_training(client, wall, args.training_timeout)
            daily.append(
                {
                    "day": day + 1,
                    "serve_s": round(serve_s, 1),
                    "training_s": round(time.perf_counter() - began, 1),
                    "trainings": trained,
                    "client": {arm: rates([p for p in panels if p.arm == arm]) for arm in arms},
                }
            )
            print(
                f"  seed {seed} day {day + 1}: {len(panels)} panels in {serve_s:.0f} s, "
                f"trainings {trained}",
                file=sys.stderr,
            )
        out["days"] = daily
        out["report"] = client.get(f"/experiments/{experiment['id']}").json()
        out["client_totals"] = {
            arm: {
                "all": rates([p for p in all_panels if p.arm == arm]),
                "anonymous": rates([p for p in all_panels if p.arm == arm and p.anonymous]),
            }
            for arm in arms
        }
        client.post(f"/experiments/{experiment['id']}/stop")
    return episode


def after_a_click(panels: list[Panel]) -> dict[str, float]:
    """CTR per panel of the panels that came after a click in the same session, on a panel
    or on a search result (the only ones a session can change)."""
    clicked: set[int] = set()
    later: list[Panel] = []
    for panel in sorted(panels, key=lambda p: (p.episode, p.step)):
        if panel.episode in clicked:
            later.append(panel)
        if panel.clicked or panel.opened:
            clicked.add(panel.episode)
    found = rates(later)
    return {
        "panels": len(later),
        "ctr_per_panel": found["ctr_per_panel"],
        "expected_ctr_per_panel": found["expected_ctr_per_panel"],
    }


def sessions_on_off(
    args: argparse.Namespace,
    market: SyntheticMarketplace,
    base: dict[str, str],
    seed: int,
    first_episode: int,
) -> dict[str, Any]:
    """The same anonymous sessions against a server with sessions on and one without."""
    env = MarketplaceEnv(market, steps=args.steps, seed=seed, browse=args.browse)
    episodes = anonymous_episodes(env, args.anonymous, first=first_episode)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    found: dict[str, Any] = {}
    variants = dict(SESSION_VARIANTS[name] for name in names(args.session_variants))
    for engine in names(args.session_engines):
        for name, variant in variants.items():
            settings = {**base, **variant}
            with (
                running_server(settings) as port,
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
            ):
                panels = run_sessions(
                    client,
                    env,
                    episodes,
                    start=start,
                    session_spacing_s=3600,
                    engine=engine,
                    browser_prefix=f"{engine}-{len(found)}",
                )
            found[f"{engine}/sessions {name}"] = rates(panels) | {
                "served_by": sorted({p.engine for p in panels}),
                "after_a_click": after_a_click(panels),
                "opened_per_panel": sum(p.opened for p in panels) / max(len(panels), 1),
            }
            print(
                f"  seed {seed} {engine} sessions {name}: CTR per panel "
                f"{found[f'{engine}/sessions {name}']['ctr_per_panel']:.4f}",
                file=sys.stderr,
            )
    return found


SESSION_SCOPES = (
    "all panels",
    "after a click",
    "all panels, expected",
    "after a click, expected",
)


def session_ctr(result: dict[str, Any], engine: str, variant: str, scope: str) -> float:
    """A sessions variant's CTR per panel: over all its panels or those after a click, as
    the visitors clicked or as the choice model expected (no draw noise)."""
    row = result["sessions"][f"{engine}/sessions {variant}"]
    if scope.startswith("after a click"):
        row = row["after_a_click"]
    return float(row["expected_ctr_per_panel" if scope.endswith("expected") else "ctr_per_panel"])


def summary(results: list[dict[str, Any]]) -> str:
    lines = experiment_summary(results) if "report" in results[0] else []
    return "\n".join(lines + sessions_summary(results))


def experiment_summary(results: list[dict[str, Any]]) -> list[str]:
    arms: list[str] = results[0]["arms"]
    lines = ["## Per arm and day (server's report; CTR = clicked panels / panels)", ""]
    days = sorted({d["day"] for r in results for d in r["report"]["days"]})
    lines.append("| arm | " + " | ".join(f"day {i + 1}" for i in range(len(days))) + " |")
    lines.append("|---|" + "---:|" * len(days))
    for arm in arms:
        cells = []
        for index, _ in enumerate(days):
            values = []
            for r in results:
                ordered_days = sorted({d["day"] for d in r["report"]["days"]})
                if index < len(ordered_days):
                    day = ordered_days[index]
                    row = [d for d in r["report"]["days"] if d["day"] == day and d["arm"] == arm]
                    if row:
                        values.append(row[0]["ctr"]["value"])
            cells.append(f"{statistics.fmean(values):.4f}" if values else "")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += ["", "## Whole experiment, mean over seeds [95 % t-interval]", ""]
    lines.append("| arm | CTR | order rate | CTR - first arm | verdicts |")
    lines.append("|---|---:|---:|---:|---|")
    for arm in arms:
        ctr, orders, diffs, verdicts = [], [], [], []
        for r in results:
            row = next(a for a in r["report"]["arms"] if a["name"] == arm)
            ctr.append(row["ctr"]["value"])
            orders.append(row["order_rate"]["value"])
            if row["ctr_difference"] is not None:
                diffs.append(row["ctr_difference"]["value"])
            verdicts.append(row["verdict"] or "-")
        m, lo, hi = t_interval(ctr)
        om, olo, ohi = t_interval(orders)
        diff = ""
        if diffs:
            dm, dlo, dhi = t_interval(diffs)
            diff = f"{dm:+.4f} [{dlo:+.4f}, {dhi:+.4f}]"
        lines.append(
            f"| {arm} | {m:.4f} [{lo:.4f}, {hi:.4f}] | {om:.4f} [{olo:.4f}, {ohi:.4f}] | "
            f"{diff} | {' '.join(verdicts)} |"
        )
    lines += expected_summary(results)
    if "offline" in results[0]:
        lines += ["", "## Ranking: online CTR per service shown vs the offline simulator", ""]
        lines.append("| arm | online CTR/shown | offline CTR/shown | offline mean return |")
        lines.append("|---|---:|---:|---:|")
        for arm in arms:
            online = statistics.fmean(
                r["client_totals"][arm]["all"]["ctr_per_shown"] for r in results
            )
            engine = arm_engine(arm)[0]
            offline = statistics.fmean(r["offline"][engine]["ctr"] for r in results)
            ret = statistics.fmean(r["offline"][engine]["mean_return"] for r in results)
            lines.append(f"| {arm} | {online:.4f} | {offline:.4f} | {ret:.3f} |")
    if "estimates" in results[0]:
        lines += [
            "",
            "## Off-policy estimates from the random arm vs each arm's measured rate",
            "",
            "Clicked services per panel: IPS and SNIPS [95 %] from the server, the arm's own rate "
            "measured by the client; `arm` estimates clicked panels per panel (CTR).",
            "",
            "| engine | method | IPS | SNIPS | used / impressions | arm: clicks per panel | "
            "arm: CTR |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            for key, found in r["estimates"].items():
                engine, method = key.split("/")
                totals = r["client_totals"].get(engine, {}).get("all", {})
                measured = (
                    f"{totals['clicks_per_panel']:.4f} | {totals['ctr_per_panel']:.4f}"
                    if totals
                    else "- | -"
                )
                if "error" in found:
                    lines.append(f"| {engine} | {method} | - | - | - | {measured} |")
                    continue
                ips, snips = found["ips"], found["snips"]
                lines.append(
                    f"| {engine} | {method} | {ips['value']:.4f} [{ips['low']:.4f}, "
                    f"{ips['high']:.4f}] | {snips['value']:.4f} [{snips['low']:.4f}, "
                    f"{snips['high']:.4f}] | {found['used']} / {found['impressions']} | "
                    f"{measured} |"
                )
    return lines


def expected_summary(results: list[dict[str, Any]]) -> list[str]:
    """Per arm and day, the panels' expected CTR and its share of the best panels', and the
    last day minus the first over the seeds."""
    if "share_of_best" not in results[0]["days"][0]["client"][results[0]["arms"][0]]:
        return []
    arms: list[str] = results[0]["arms"]
    n_days = min(len(r["days"]) for r in results)
    lines: list[str] = []
    for key, title in (
        ("expected_ctr_per_panel", "expected CTR per panel (the choice model's P(a click))"),
        ("share_of_best", "share of the best panel's expected CTR on the same pages"),
    ):
        lines += ["", f"## Per arm and day, {title}, mean over seeds", ""]
        lines.append(
            "| arm | "
            + " | ".join(f"day {d + 1}" for d in range(n_days))
            + f" | day {n_days} - day 1 [95 %] |"
        )
        lines.append("|---|" + "---:|" * (n_days + 1))
        for arm in arms:
            per_day = [[r["days"][d]["client"][arm][key] for r in results] for d in range(n_days)]
            change = [last - first for first, last in zip(per_day[0], per_day[-1], strict=True)]
            m, lo, hi = t_interval(change)
            cells = [f"{statistics.fmean(values):.4f}" for values in per_day]
            lines.append(
                f"| {arm} | " + " | ".join(cells) + f" | {m:+.4f} [{lo:+.4f}, {hi:+.4f}] |"
            )
    lines += ["", "## Expected CTR per panel, one arm minus another, mean over seeds [95 %]", ""]
    lines.append(f"| arms | day {n_days} | all days |")
    lines.append("|---|---:|---:|")
    for index, arm in enumerate(arms):
        for other in arms[index + 1 :]:
            cells = []
            for days in ([n_days - 1], list(range(n_days))):
                change = [
                    statistics.fmean(
                        r["days"][d]["client"][arm]["expected_ctr_per_panel"]
                        - r["days"][d]["client"][other]["expected_ctr_per_panel"]
                        for d in days
                    )
                    for r in results
                ]
                m, lo, hi = t_interval(change)
                cells.append(f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            lines.append(f"| {arm} - {other} | " + " | ".join(cells) + " |")
    return lines


def sessions_summary(results: list[dict[str, Any]]) -> list[str]:
    browse = "browsing" if results[0]["browse"] else "not browsing"
    lines = ["", f"## Anonymous visitors ({browse}), sessions on vs off (CTR per panel)", ""]
    keys = sorted({k for r in results for k in r["sessions"]})
    for key in keys:
        values = [r["sessions"][key]["ctr_per_panel"] for r in results if key in r["sessions"]]
        m, lo, hi = t_interval(values)
        lines.append(f"- {key}: {m:.4f} [{lo:.4f}, {hi:.4f}]")
    engines = sorted({k.split("/")[0] for k in keys})
    for engine in engines:
        if f"{engine}/sessions off" not in keys:
            continue
        for variant in ("on", "on, opened shown again"):
            if f"{engine}/sessions {variant}" not in keys:
                continue
            scopes = SESSION_SCOPES
            if "expected_ctr_per_panel" not in results[0]["sessions"][f"{engine}/sessions off"]:
                scopes = SESSION_SCOPES[:2]
            for scope in scopes:
                ratios = [
                    session_ctr(r, engine, variant, scope)
                    / max(session_ctr(r, engine, "off", scope), 1e-9)
                    for r in results
                ]
                m, lo, hi = t_interval(ratios)
                seeds = ", ".join(f"{r:.3f}" for r in ratios)
                lines.append(
                    f"- {engine}, sessions {variant} / off, {scope}: {m:.3f} [{lo:.3f}, {hi:.3f}]"
                    f" (per seed {seeds})"
                )
    return lines


def add_marketplace_arguments(parser: argparse.ArgumentParser) -> None:
    """The seeds, marketplaces and sessions this benchmark runs, for others that study the
    same visitors."""
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--history-days", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5, help="panels per session")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_marketplace_arguments(parser)
    parser.add_argument(
        "--history",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="import the marketplace's logged history and train the engines on it first; "
        "--no-history is a portal that starts with the recommender: the engines' first "
        "versions come from the scheduled training on the experiment's own days",
    )
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=300, help="visitor sessions per day")
    parser.add_argument(
        "--clicks-per-panel",
        type=float,
        help="expected actions per panel, to schedule about one training a day (default "
        f"{PANEL_ACTIONS}, {PANEL_ACTIONS + OPENED_ACTIONS} when visitors browse)",
    )
    parser.add_argument("--arms", default="popularity,ials,ncf,rl")
    parser.add_argument(
        "--estimate",
        help="engines to estimate off-policy from a random arm (default, when --arms has "
        "random: every other arm's engine)",
    )
    parser.add_argument("--session-engines", default="ials,ncf")
    parser.add_argument(
        "--session-variants",
        default=",".join(SESSION_VARIANTS),
        help="servers the sessions comparison asks: off, on, again (on, with the services "
        "opened in the session shown again)",
    )
    parser.add_argument(
        "--sessions-only",
        action="store_true",
        help="only the sessions comparison, with engines trained on the logged history",
    )
    parser.add_argument(
        "--browse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="visitors also open search results beside each panel",
    )
    parser.add_argument(
        "--anonymous",
        type=int,
        default=300,
        help="anonymous sessions for the sessions on/off comparison",
    )
    parser.add_argument("--stack", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--params", help="engine parameters file (ENGINE_PARAMS_FILE)")
    parser.add_argument("--training-timeout", type=float, default=3600)
    parser.add_argument("--offline", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--offline-episodes", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument(
        "--summarise", type=Path, help="print the summary of a file `--json` wrote; run nothing"
    )
    args = parser.parse_args()
    if args.summarise:
        print(summary(json.loads(args.summarise.read_text())))
        return
    if not args.history:
        arms = [arm_engine(a) for a in names(args.arms)]
        untrained = set(names(args.session_engines)) - {engine for engine, _ in arms}
        if args.sessions_only or untrained or any(version for _, version in arms):
            parser.error(
                "--no-history: no version exists before the experiment's scheduled training, "
                "so no arm can hold one (engine:version), --session-engines must be engines "
                "of --arms (or ''), and --sessions-only cannot be used"
            )
    unknown = set(names(args.session_variants)) - set(SESSION_VARIANTS)
    if unknown:
        parser.error(f"unknown session variants: {sorted(unknown)}")
    results = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix="online-") as folder:
            began = time.perf_counter()
            result = run_seed(seed, args, Path(folder))
            result["wall_s"] = round(time.perf_counter() - began, 1)
            results.append(result)
            print(f"seed {seed} done in {result['wall_s']:.0f} s", file=sys.stderr)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=str))
    print(summary(results))


if __name__ == "__main__":
    main()
