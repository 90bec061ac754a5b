"""`recommender serve`: run the HTTP API, in one process or in several."""

from __future__ import annotations

import typer
import uvicorn

from recommender.api.security import Tokens, UnsafeBindError, check_bind
from recommender.cli.app import app
from recommender.cli.output import report_error
from recommender.config import get_settings
from recommender.observability.logs import configure as configure_logs
from recommender.store import migrate
from recommender.store.database import Database

NEEDS_BROKER = (
    "--workers {workers} needs REDIS_URL and a `recommender worker`: without a broker every "
    "server process would run background jobs itself, next to the requests it serves, each "
    "with a queue of its own. Set REDIS_URL, or serve with --workers 1."
)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: HOST setting)."),
    port: int | None = typer.Option(None, help="Port (default: PORT setting)."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
    workers: int = typer.Option(
        1,
        min=1,
        help="Server processes. 1 runs uvicorn; more run gunicorn with uvicorn workers and "
        "need REDIS_URL (background jobs go to `recommender worker`).",
    ),
    graceful_timeout: int = typer.Option(
        30, min=1, help="Seconds that requests in flight get to finish when the server stops."
    ),
) -> None:
    """Migrate the database, load the catalogue and models, and serve the API."""
    settings = get_settings()
    bind = host or settings.host
    secret = settings.api_tokens.get_secret_value() if settings.api_tokens else None
    try:
        check_bind(bind, Tokens.parse(secret), settings.allow_anonymous)
    except (UnsafeBindError, ValueError) as error:
        report_error(error)
        raise typer.Exit(code=2) from None
    if workers > 1 and reload:
        report_error("--reload restarts a single process: use it with --workers 1")
        raise typer.Exit(code=2)
    if workers > 1 and not settings.redis_url:
        report_error(NEEDS_BROKER.format(workers=workers))
        raise typer.Exit(code=2)
    configure_logs(settings.log_level, settings.log_format)
    port = port or settings.port
    if workers == 1:
        uvicorn.run(
            "recommender.api.app:server_app",
            factory=True,
            host=bind,
            port=port,
            reload=reload,
            log_level=settings.log_level,
            log_config=None,  # keep the structured logging configured above
            access_log=False,  # requests are logged, with their id, by the application
            timeout_graceful_shutdown=graceful_timeout,
        )
        return
    # Once, before the workers fork: started together, each would find the same revision
    # pending and apply it at the same time. Their own start-up upgrade then finds nothing to do.
    db = Database(settings.database_url, pool_size=1)
    try:
        migrate.upgrade(db.engine)
    finally:
        db.dispose()
    from recommender.api.multiprocess import serve_with_gunicorn

    serve_with_gunicorn(
        host=bind,
        port=port,
        workers=workers,
        graceful_timeout=graceful_timeout,
        log_level=settings.log_level,
    )
