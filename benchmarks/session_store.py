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

Then what the sessions cost the garbage collector: the store is filled with `--fill-visitors`
visitors of `--fill-events` actions each (every other one logged in, and acting in two
browsers), each read once as serving reads it, and the time of a full collection
(`gc.collect()`, the median of three after one that lets the collector settle) is printed with
the objects it tracks and the memory the filled store took. A full collection stops the event
loop; it comes whenever enough objects have outlived younger collections, so under load it
comes again and again.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
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


def collection_pause(args: argparse.Namespace) -> tuple[float, int, float]:
    """Milliseconds of a full collection with a filled store, the objects the collector
    tracks then, and the megabytes the store added to the process's peak memory."""
    gc.collect()
    gc.freeze()  # as the server does after start: only the sessions are left to walk
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store = LocalSessions(gap_s=1800, max_visitors=args.max_visitors, max_events=args.max_events)
    rng = random.Random(0)
    at = 1_800_000_000.0
    number = 0
    for visitor in range(args.fill_visitors):
        user = visitor if visitor % 2 else None
        for event in range(args.fill_events):
            number += 1
            action = ServiceAction(
                id=number,
                # A logged-in user acts in two browsers, so their view merges two keys.
                unique_id=f"b{visitor}" if user is None or event % 2 else f"o{visitor}",
                user_id=user,
                service_id=rng.randint(1, args.services),
                at=at + number,
                ordered=False,
            )
            store.add([action])
        seen = store.recent(f"b{visitor}", user, at + number)
        seen.excluded  # noqa: B018 - serving reads what the view excludes
    gc.collect()
    pauses = []
    for _ in range(3):
        began = time.perf_counter()
        gc.collect()
        pauses.append(1e3 * (time.perf_counter() - began))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    tracked = len(gc.get_objects())
    gc.unfreeze()
    return statistics.median(pauses), tracked, grown / 1024


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
    parser.add_argument("--fill-visitors", type=int, default=100_000)
    parser.add_argument("--fill-events", type=int, default=20)
    args = parser.parse_args()
    runs = [run(args, seed) for seed in range(args.repeats)]
    for name, values in (("read", [r[0] for r in runs]), ("action", [r[1] for r in runs])):
        print(
            f"CPU us per {name}: median {statistics.median(values):.1f}, "
            f"lowest {min(values):.1f} ({args.repeats} runs)"
        )
    if args.fill_visitors > 0:
        pause, tracked, grown_mb = collection_pause(args)
        print(
            f"{args.fill_visitors} visitors of {args.fill_events} actions: a full collection "
            f"{pause:.1f} ms, {tracked} objects tracked, the store took {grown_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
