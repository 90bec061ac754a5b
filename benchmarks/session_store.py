"""What the in-process session store costs a request and an action, on the serving
benchmark's worst case for sessions, without HTTP, the server or the other work around it.

    .venv/bin/python -m benchmarks.session_store

The pattern of `benchmarks.serving --online` with one browser per connection: `--browsers`
browsers send requests, one in five an action on a random service, every logged-in request
and every action naming a random user of `--users` (so each browser's session fills up, and
a user's events come from other browsers). Every action is added twice, as the API adds it
and then the refresh thread again from the store. All events share one time, as the serving
benchmark's do. Prints the CPU microseconds (this process's, not the wall clock's) per
request read and per action, median and lowest of `--repeats` runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from recommender.activity.actions import ServiceAction
from recommender.sessions.local import LocalSessions


def run(args: argparse.Namespace, seed: int) -> tuple[float, float]:
    """CPU microseconds per session read and per action (both adds) over one replay."""
    rng = random.Random(seed)
    store = LocalSessions(gap_s=1800, max_visitors=args.max_visitors, max_events=args.max_events)
    at = 1_800_000_000.0
    adding = reading = 0.0
    actions = reads = 0
    for _ in range(args.requests):
        browser = f"bench-{rng.randrange(args.browsers)}"
        roll = rng.random()
        if roll < 0.2:
            actions += 1
            event = ServiceAction(
                id=actions,
                unique_id=browser,
                user_id=rng.randint(1, args.users),
                service_id=rng.randint(1, args.services),
                at=at,
                ordered=rng.random() < 0.05,
            )
            began = time.process_time()
            store.add([event])
            store.add([event])
            adding += time.process_time() - began
        else:
            user = rng.randint(1, args.users) if 0.4 <= roll < 0.65 else None
            began = time.process_time()
            store.recent(browser, user, at)
            reading += time.process_time() - began
            reads += 1
    return 1e6 * reading / max(reads, 1), 1e6 * adding / max(actions, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--browsers", type=int, default=50)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--max-events", type=int, default=50, help="SESSION_MAX_EVENTS")
    parser.add_argument("--max-visitors", type=int, default=100_000, help="SESSION_MAX_VISITORS")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs = [run(args, seed) for seed in range(args.repeats)]
    for name, values in (("read", [r[0] for r in runs]), ("action", [r[1] for r in runs])):
        print(
            f"CPU us per {name}: median {statistics.median(values):.1f}, "
            f"lowest {min(values):.1f} ({args.repeats} runs)"
        )


if __name__ == "__main__":
    main()
