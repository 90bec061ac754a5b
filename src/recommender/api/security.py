"""Who may call what: bearer tokens per role, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from fastapi import HTTPException

from recommender.observability.logs import caller

ADMIN_ONLY = "this endpoint needs an admin token"


class Role(StrEnum):
    ADMIN = "admin"
    CLIENT = "client"


# An admin may do everything a client may.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset({Role.ADMIN, Role.CLIENT}),
    Role.CLIENT: frozenset({Role.CLIENT}),
}


class TokenSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Tokens:
    """The configured tokens; empty means the API is open (loopback only)."""

    entries: tuple[tuple[Role, bytes], ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, spec: str | None) -> Tokens:
        """`"admin:TOKEN1,client:TOKEN2,client:TOKEN3"`; several tokens per role allowed."""
        entries = []
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            role, separator, token = part.partition(":")
            if not separator or not token.strip():
                raise TokenSpecError("API_TOKENS entries must look like role:token")
            try:
                parsed = Role(role.strip().lower())
            except ValueError:
                raise TokenSpecError(
                    f"unknown role {role.strip()!r} in API_TOKENS; roles: admin, client"
                ) from None
            if len(token.strip()) < 16:
                raise TokenSpecError("API_TOKENS tokens must be at least 16 characters long")
            entries.append((parsed, token.strip().encode()))
        return cls(tuple(entries))

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def role_of(self, presented: str) -> Role | None:
        """The role of a presented token. Every configured token is compared, whatever
        matched, so the time taken says nothing about which one (or how much) matched."""
        candidate = presented.encode()
        found: Role | None = None
        for role, token in self.entries:
            if hmac.compare_digest(candidate, token) and found is None:
                found = role
        return found


def fingerprint(token: str) -> str:
    """A short digest that tells tokens apart in logs without revealing them."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def authorize(tokens: Tokens, authorization: str | None, needed: Role) -> Role | None:
    """The caller's role, or an HTTP error: 401 without a valid token, 403 with a token
    whose role may not do this. Returns None when authentication is off."""
    if not tokens.enabled:
        return None
    presented = bearer(authorization)
    if presented is None:
        raise HTTPException(
            status_code=401,
            detail="missing bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = tokens.role_of(presented)
    if role is None:
        raise HTTPException(
            status_code=401,
            detail="invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    caller.set(f"{role}:{fingerprint(presented)}")
    if needed not in GRANTS[role]:
        raise HTTPException(
            status_code=403, detail=ADMIN_ONLY if needed is Role.ADMIN else "forbidden"
        )
    return role


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UnsafeBindError(RuntimeError):
    pass


def check_bind(host: str, tokens: Tokens, allow_anonymous: bool) -> None:
    """Refuse to serve an open API beyond this machine unless explicitly allowed."""
    if not tokens.enabled and not is_loopback(host) and not allow_anonymous:
        raise UnsafeBindError(
            f"refusing to serve on {host} without API_TOKENS: anyone could replace the "
            "catalogue or trigger training. Set API_TOKENS (see README), or "
            "ALLOW_ANONYMOUS=true if something in front of the service authenticates."
        )
