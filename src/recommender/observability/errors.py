"""Error reporting to Sentry, for the API and the workers; nothing is sent without a DSN."""

from __future__ import annotations

from typing import Any

from recommender import __version__
from recommender.config import Settings

_SECRET_HEADERS = {"authorization", "cookie", "x-api-key"}


def _scrub(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    # Tokens must never leave the service, not even inside an error report.
    headers = (event.get("request") or {}).get("headers")
    if isinstance(headers, dict):
        for name in list(headers):
            if name.lower() in _SECRET_HEADERS:
                headers[name] = "[removed]"
    return event


def init_sentry(settings: Settings, *, component: str) -> bool:
    """Start reporting if SENTRY_DSN is set; returns whether it did."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        release=settings.sentry_release or f"marketplace-recommender@{__version__}",
        send_default_pii=False,
        traces_sample_rate=0.0,
        before_send=_scrub,  # type: ignore[arg-type]
    )
    sentry_sdk.set_tag("component", component)
    return True
