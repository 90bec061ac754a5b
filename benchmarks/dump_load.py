"""Seconds and peak memory to load catalogue dumps of several sizes with `recommender load-dump`.

    python benchmarks/dump_load.py --sizes 1000x10000,10000x100000

Each size is generated, written to a file, and loaded twice into a fresh SQLite database
(the second load replaces the first, as a nightly dump does) by a separate process whose
peak resident memory is read from the operating system. `--database-url` loads into another
database instead (for example PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.generated import generate_dump

BIN = Path(sys.executable).parent


def load_once(dump_file: Path, database_url: str) -> float:
    """Seconds of one `recommender load-dump` run."""
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "recommender"), "load-dump", str(dump_file)],
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


PARSE_PROBE = """
import resource, sys
import orjson
import recommender.cli  # what `recommender load-dump` imports before reading the file
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
raw = open(sys.argv[1], "rb").read()
doc = orjson.loads(raw)
del raw
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def parsed_size(dump_file: Path) -> tuple[float, float]:
    """(MB a fresh process holds before reading, MB that one parsed copy of the dump adds)."""
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dump_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    base, after = (int(v) / 1024 for v in out)
    return base, after - base


def measure(n_services: int, n_users: int, database_url: str | None) -> dict[str, float]:
    """Run in a child of its own, so the children's peak memory is this size's alone."""
    with tempfile.TemporaryDirectory() as tmp:
        dump_file = Path(tmp) / "dump.json"
        dump_file.write_bytes(orjson.dumps(generate_dump(n_services, n_users, seed=0)))
        url = database_url or f"sqlite:///{Path(tmp) / 'load.db'}"
        first = load_once(dump_file, url)
        second = load_once(dump_file, url)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        base_mb, parsed_mb = parsed_size(dump_file)
        return {
            "services": n_services,
            "users": n_users,
            "dump_mb": round(dump_file.stat().st_size / 1e6, 1),
            "first_load_s": round(first, 1),
            "replace_s": round(second, 1),
            "peak_rss_mb": round(peak_kb / 1024),
            "process_base_mb": round(base_mb),
            "one_parsed_copy_mb": round(parsed_mb),
            # How many parsed copies the load held at its peak, beyond the bare process.
            "copies_at_peak": round((peak_kb / 1024 - base_mb) / max(parsed_mb, 1), 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000x10000,1000x100000,10000x10000,10000x100000")
    parser.add_argument("--database-url")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        services, users = (int(v) for v in args.one.split("x"))
        print(json.dumps(measure(services, users, args.database_url)))
        return
    print(
        f"{'services':>9} {'users':>8} {'dump MB':>8} {'load s':>7} {'replace s':>9} "
        f"{'peak MB':>8} {'base MB':>8} {'parsed MB':>9} {'copies':>6}"
    )
    for size in args.sizes.split(","):
        # One child per size, so that its peak memory is its own.
        command = [sys.executable, "-m", "benchmarks.dump_load", "--one", size]
        if args.database_url:
            command += ["--database-url", args.database_url]
        row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            f"{row['services']:>9} {row['users']:>8} {row['dump_mb']:>8} {row['first_load_s']:>7}"
            f" {row['replace_s']:>9} {row['peak_rss_mb']:>8} {row['process_base_mb']:>8}"
            f" {row['one_parsed_copy_mb']:>9} {row['copies_at_peak']:>6}"
        )


if __name__ == "__main__":
    main()
