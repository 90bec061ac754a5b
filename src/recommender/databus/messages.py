"""What a databus message says: its identity, the user action it carries, or why it carries none.

A message's identity is the SHA-256 of its body. The broker's `message-id` cannot serve: RabbitMQ
numbers each delivery afresh, so a redelivered message would look new; and the portal sets no id
of its own. A body carries the visitor, the visit ids of both pages and a timestamp, so two
byte-identical bodies are the same action sent twice (a redelivery, or a publisher's retry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from recommender.contract.errors import VALIDATION_MESSAGE, field_errors
from recommender.contract.user_actions import UserActionIn

# Brokers stamp (ActiveMQ) or pass on (RabbitMQ, when the publisher set it) the sending time
# in milliseconds since the epoch under this header.
SENT_AT_HEADER = "timestamp"


@dataclass(frozen=True)
class Incoming:
    """One delivered message, as the store keeps it."""

    digest: str
    destination: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    sent_at: float | None = None  # seconds since the epoch


@dataclass(frozen=True)
class Rejection:
    """Why a message is not a user action: a line for people, and the offending fields."""

    reason: str
    errors: dict[str, str] = field(default_factory=dict)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def sent_at(headers: Mapping[str, str]) -> float | None:
    value = headers.get(SENT_AT_HEADER, "")
    return int(value) / 1000 if value.isdigit() else None


def incoming(destination: str, headers: Mapping[str, str], body: bytes) -> Incoming:
    return Incoming(
        digest=digest(body),
        destination=destination,
        body=body,
        headers=dict(headers),
        sent_at=sent_at(headers),
    )


def read_action(body: bytes, max_bytes: int) -> UserActionIn | Rejection:
    """The action, validated exactly as `POST /user_actions` validates its body."""
    if len(body) > max_bytes:
        problem = f"body of {len(body)} bytes is larger than the limit of {max_bytes} bytes"
        return Rejection(problem, {"body": problem})
    if not body:  # the endpoint's answer to an empty body
        return Rejection(VALIDATION_MESSAGE, {"body": "Field required"})
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Rejection(VALIDATION_MESSAGE, {"body": "body is not valid JSON"})
    try:
        # As FastAPI validates a body (which is why a non-object is "not an object to extract
        # fields from"), so that both say the same of the same input.
        return UserActionIn.model_validate(document, from_attributes=True)
    except ValidationError as error:
        return Rejection(VALIDATION_MESSAGE, field_errors(error.errors()))


def describe(rejection: Rejection) -> str:
    """One line: the reason and each field's problem."""
    details = "; ".join(f"{path}: {message}" for path, message in rejection.errors.items())
    return f"{rejection.reason}: {details}" if details else rejection.reason
