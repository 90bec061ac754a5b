"""Health probes for containers: `python -m recommender.healthcheck TARGET`, one per process.

Exit status 0 when healthy, 1 when not, with one line saying why (a container runtime keeps
it in its health log). A probe runs every few seconds, so it imports only the settings and
what it asks with, not the command line with its engines.

- `api`: the server on this host answers `GET /health` at all (alive). With `--ready`, it
  answers 200: database, catalogue, engines and job worker are all ready (what a load
  balancer routes on). Restarting a live server cannot load a catalogue or start a worker, so
  a container's own check is the first.
- `worker`: the Celery worker on this host answers a ping through the broker.
- `scheduler`: the scheduler (`recommender beat`) wrote its schedule file lately; it saves
  it every few minutes while it runs.
- `subscriber`: the databus subscriber (of DATABUS_SUBSCRIPTION) reported to the store within
  the last seconds. It may be waiting for the broker (the line says so): restarting it would
  not bring the broker back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from recommender.config import Settings, get_settings
from recommender.config_errors import InvalidSettingsError

TIMEOUT_S = 4.0
WILDCARDS = {"", "0.0.0.0", "::"}


def health_url(settings: Settings) -> str:
    """The local server's /health: a wildcard bind is reached through the loopback address."""
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/health"


def probe_api(settings: Settings, *, ready: bool) -> tuple[bool, str]:
    url = health_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as error:  # 503 and the like still carry the health tree
        status, body = error.code, error.read()
    except (OSError, ValueError) as error:
        return False, f"{url}: {error}"
    try:
        tree = json.loads(body)
        parts = {name: part.get("status") for name, part in tree["components"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return False, f"{url} answered {status} without a health tree"
    summary = f"{url} answered {status}: " + ", ".join(f"{k} {v}" for k, v in parts.items())
    if status == 200:
        return True, summary
    return (not ready and status == 503), summary


def probe_worker(settings: Settings) -> tuple[bool, str]:
    if not settings.redis_url:
        return False, "REDIS_URL is not set: there is no worker to probe"
    from recommender.tasks.celery_app import local_worker_name, make_celery

    name = local_worker_name()
    celery = make_celery(settings)
    try:
        replies = celery.control.ping(destination=[name], timeout=TIMEOUT_S) or []
    except Exception as error:  # the broker is down or refused: unhealthy, say why
        return False, f"ping {name}: {error}"
    finally:
        celery.close()
    if any(name in reply for reply in replies):
        return True, f"{name} answered"
    return False, f"{name} did not answer within {TIMEOUT_S:g} s"


# The scheduler saves its state every three minutes (Celery's default) while it ticks.
SCHEDULE_STALE_S = 600.0


def probe_scheduler(schedule_file: str, now: float | None = None) -> tuple[bool, str]:
    folder = Path(schedule_file).parent
    # The file may carry a suffix, depending on the dbm module behind Python's shelve.
    written = [p.stat().st_mtime for p in folder.glob(Path(schedule_file).name + "*")]
    if not written:
        return False, f"{schedule_file} does not exist: the scheduler has not run"
    age = (time.time() if now is None else now) - max(written)
    if age > SCHEDULE_STALE_S:
        return False, f"{schedule_file} was last saved {age:.0f} s ago"
    return True, f"{schedule_file} saved {age:.0f} s ago"


def probe_subscriber(settings: Settings) -> tuple[bool, str]:
    if settings.databus_host is None:
        return False, "DATABUS_HOST is not set: there is no subscriber to probe"
    from recommender.databus import status
    from recommender.store.database import Database
    from recommender.store.schema import utcnow

    db = Database(settings.database_url, pool_size=1, statement_timeout_s=TIMEOUT_S)
    try:
        with db.engine.connect() as conn:
            row = status.read(conn, settings.databus_subscription)
    except Exception as error:  # the store is down or refused: unhealthy, say why
        return False, f"the store: {type(error).__name__}"
    finally:
        db.dispose()
    part = status.health(row, settings.databus_subscription, utcnow())
    if row is None:
        return False, part["message"]
    summary = f"{settings.databus_subscription}: {part['state']}, {part['stored']} stored"
    if part.get("detail"):
        summary += f" ({part['detail']})"
    return part["state"] != "silent", f"{summary}, reported {part['last_report_s_ago']} s ago"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.healthcheck",
        description="Exit 0 when the server or worker on this host is healthy, 1 when not.",
    )
    parser.add_argument("target", choices=["api", "worker", "scheduler", "subscriber"])
    parser.add_argument(
        "--ready", action="store_true", help="api: healthy only when /health answers 200"
    )
    parser.add_argument(
        "--schedule-file",
        default="var/celerybeat-schedule",
        help="scheduler: the file `recommender beat --schedule-file` keeps",
    )
    args = parser.parse_args(argv)
    if args.target == "scheduler":
        healthy, message = probe_scheduler(args.schedule_file)
    else:
        try:
            settings = get_settings()
        except InvalidSettingsError as error:
            sys.stdout.write(f"{error}\n")
            return 1
        if args.target == "api":
            healthy, message = probe_api(settings, ready=args.ready)
        elif args.target == "worker":
            healthy, message = probe_worker(settings)
        else:
            healthy, message = probe_subscriber(settings)
    sys.stdout.write(message + "\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
