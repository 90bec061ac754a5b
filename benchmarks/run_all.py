"""Run the benchmark scripts one after another (what `make bench` does).

    python benchmarks/run_all.py                 # everything: well over an hour on 2 cores
    python benchmarks/run_all.py --only serving,dump_load

Each script prints its own figures; they are run one at a time, since timings taken while
another benchmark runs would measure the contention, not the service.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> arguments; the order puts the quick ones first.
SCRIPTS: dict[str, list[str]] = {
    "engine_scoring": [],
    "session_store": [],
    "writer_handoff": [],
    "route_cost": [],
    "impression_log": [],
    "dump_load": [],
    "serving": ["--services", "1000,10000", "--concurrency", "1,10,50"],
    "hot_swap": [],
    "synthetic_generator": [],
    "quality": [],
    "synthetic_quality": [],
    "rl_training": [],
    "simulation": [],
    "session_headroom": [],
    "load": ["--mode", "embedded", "--find-rate"],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated script names")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = set(chosen) - set(SCRIPTS)
    if unknown:
        raise SystemExit(f"unknown benchmarks {sorted(unknown)}; known: {', '.join(SCRIPTS)}")
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *SCRIPTS[name]], cwd=ROOT, check=False
        )
        print(f"=== {name}: exit {result.returncode} after {time.perf_counter() - started:.0f} s")
        if result.returncode != 0:
            raise SystemExit(result.returncode)


if __name__ == "__main__":
    main()
