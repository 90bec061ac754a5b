"""Wall time, peak memory and output sizes of `recommender synth` at a given scale.

    .venv/bin/python benchmarks/synthetic_generator.py --services 10000 --users 100000 --days 30

Runs the command in a child process (as a user would) and reads its peak resident memory from
the operating system's accounting of finished children, so the figure is the whole process's.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recommender.synthetic import OUTPUT_FILES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="keep the files here (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output or Path(scratch) / "synth"
        command = [
            sys.executable,
            "-c",
            "from recommender.cli import main; main()",
            "synth",
            f"--services={args.services}",
            f"--users={args.users}",
            f"--days={args.days}",
            f"--seed={args.seed}",
            f"--output={output}",
        ]
        began = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - began
        # ru_maxrss is in KiB on Linux, in bytes on macOS.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak_mib = peak / 1024 / (1024 if sys.platform == "darwin" else 1)
        sizes = {name: (output / name).stat().st_size / 2**20 for name in OUTPUT_FILES}
        lines = {
            name: sum(1 for _ in (output / name).open("rb"))
            for name in OUTPUT_FILES
            if name.endswith(".jsonl")
        }
    result = {
        "services": args.services,
        "users": args.users,
        "days": args.days,
        "seed": args.seed,
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_mib),
        "file_mib": {name: round(size, 1) for name, size in sizes.items()},
        "lines": lines,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
