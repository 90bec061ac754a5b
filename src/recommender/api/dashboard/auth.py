"""The dashboard's login: an admin token exchanged for a signed, HttpOnly session cookie.

The cookie holds when it was issued and an HMAC of that time keyed by the admin token, never
the token itself: it opens the dashboard for `SESSION_S` seconds and is no bearer token for
the API. Every replica can check it (the key is the token all of them know), and rotating
the token ends every session. Forms carry a token derived from the cookie, which a page of
another site cannot read, against cross-site requests.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from recommender.api.security import Role, Tokens

COOKIE = "recommender_dashboard"
SESSION_S = 12 * 3600


def _signature(token: bytes, issued: int) -> str:
    return hmac.new(token, f"dashboard-session:{issued}".encode(), hashlib.sha256).hexdigest()


def admin_role(tokens: Tokens, presented: str) -> Role | None:
    """The role of a token typed into the login form."""
    return tokens.role_of(presented.strip())


def session_cookie(token: str, now: float) -> str:
    issued = int(now)
    return f"{issued}.{_signature(token.strip().encode(), issued)}"


def is_admin_session(tokens: Tokens, cookie: str | None, now: float) -> bool:
    """Whether the cookie was issued for an admin token still configured, and is not too old.
    With authentication off (no tokens, loopback only), the dashboard is open like the API."""
    if not tokens.enabled:
        return True
    if not cookie:
        return False
    issued_text, _, signature = cookie.partition(".")
    if not issued_text.isdigit() or not 0 <= now - int(issued_text) <= SESSION_S:
        return False
    found = False
    # Every admin token is compared, so the time taken says nothing about which one matched.
    for role, token in tokens.entries:
        expected = _signature(token, int(issued_text))
        if hmac.compare_digest(signature.encode(), expected.encode()) and role is Role.ADMIN:
            found = True
    return found


def form_token(cookie: str | None) -> str:
    """What each form sends back; only a page that could read the cookie can know it."""
    return hashlib.sha256(f"dashboard-form:{cookie or ''}".encode()).hexdigest()[:32]


def is_form_token(presented: str, cookie: str | None) -> bool:
    return hmac.compare_digest(presented.encode(), form_token(cookie).encode())


def same_origin(origin: str | None, host_url: str) -> bool:
    """A form post from this site: browsers send `Origin` with every POST they make. Hosts
    are compared, not schemes: behind a proxy that ends TLS the service sees plain HTTP."""
    return origin is None or urlsplit(origin).netloc == urlsplit(host_url).netloc
