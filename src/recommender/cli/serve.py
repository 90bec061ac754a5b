"""`recommender serve`: run the HTTP API."""

from __future__ import annotations

import logging

import typer
import uvicorn

from recommender.cli.app import app
from recommender.config import get_settings


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: HOST setting)."),
    port: int | None = typer.Option(None, help="Port (default: PORT setting)."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Migrate the database, load the catalogue and models, and serve the API."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    uvicorn.run(
        "recommender.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_level=settings.log_level,
    )
