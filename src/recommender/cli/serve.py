"""`recommender serve`: run the HTTP API."""

from __future__ import annotations

import typer
import uvicorn

from recommender.api.security import Tokens, UnsafeBindError, check_bind
from recommender.cli.app import app
from recommender.cli.output import errors
from recommender.config import get_settings
from recommender.observability.logs import configure as configure_logs


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: HOST setting)."),
    port: int | None = typer.Option(None, help="Port (default: PORT setting)."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Migrate the database, load the catalogue and models, and serve the API."""
    settings = get_settings()
    bind = host or settings.host
    secret = settings.api_tokens.get_secret_value() if settings.api_tokens else None
    try:
        check_bind(bind, Tokens.parse(secret), settings.allow_anonymous)
    except (UnsafeBindError, ValueError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from None
    configure_logs(settings.log_level, settings.log_format)
    uvicorn.run(
        "recommender.api.app:create_app",
        factory=True,
        host=bind,
        port=port or settings.port,
        reload=reload,
        log_level=settings.log_level,
        log_config=None,  # keep the structured logging configured above
        access_log=False,  # requests are logged, with their id, by the application
    )
