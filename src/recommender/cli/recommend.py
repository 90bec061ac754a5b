"""`recommender recommend`: ask for a panel from the terminal, as the portal would."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from pydantic import ValidationError
from rich.table import Table

from recommender.cli.app import app
from recommender.cli.output import console, report_error
from recommender.config import get_settings
from recommender.contract.recommendations import RecommendationRequest
from recommender.engines import UnknownEngineError
from recommender.runtime import Runtime
from recommender.serving.recommend import Visitor, decide


@app.command()
def recommend(
    user_id: int | None = typer.Option(None, help="Logged-in user; omit for an anonymous visitor."),
    panel: str = typer.Option("v1", help="Panel: v1 (3 services) or v2 (2)."),
    category: list[int] = typer.Option([], help="Category filter (repeatable)."),
    domain: list[int] = typer.Option([], help="Scientific domain filter (repeatable)."),
    q: str | None = typer.Option(None, help="Free-text search."),
    engine: str | None = typer.Option(None, help="Requested engine, e.g. popularity."),
) -> None:
    """Recommend services and print them as a table (the answer is stored as an impression)."""
    try:
        request = RecommendationRequest.model_validate(
            {
                "unique_id": "cli",
                "timestamp": datetime.now(UTC).isoformat(),
                "page_id": "/services",
                "user_id": user_id,
                "panel_id": panel,
                "engine_version": engine,
                "search_data": {"categories": category, "scientific_domains": domain, "q": q},
            }
        )
    except ValidationError as error:
        report_error(error)
        raise typer.Exit(code=2) from None
    settings = get_settings()
    runtime = Runtime(settings)
    try:
        runtime.start(poll=False)
        state = runtime.serving.current
        visitor = Visitor.of(state, request)
        recent = runtime.sessions.recent(
            request.unique_id, visitor.user_id, request.timestamp.timestamp()
        )
        decision = decide(
            state,
            request,
            visitor=visitor,
            recent=recent,
            search_hits=runtime.search(q) if q and not request.candidates else None,
            fallback=settings.fallback_order,
            exclude_opened=settings.session_exclude_opened,
        )
        answer = decision.response(runtime.store_impression(decision.impression).result())
    except UnknownEngineError as error:
        report_error(error)
        raise typer.Exit(code=2) from None
    finally:
        runtime.close()
    table = Table(
        "#",
        "service",
        "name",
        "score",
        "why",
        title=f"engine {answer.engine_version}, recommendation {answer.recommendation_id}",
    )
    for position, (service, score, why) in enumerate(
        zip(answer.recommendations, answer.scores, answer.explanations, strict=True), start=1
    ):
        table.add_row(
            str(position), str(service), state.catalog.service(service) or "?", f"{score:.4f}", why
        )
    console.print(table)
    if not answer.recommendations:
        console.print("no service matches; load a catalogue first (`recommender demo`)")
