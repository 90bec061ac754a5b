"""Why a setting was refused, said in one line that names its variable and what it accepts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

# Said after the allowed values of settings that accept more spellings than they list.
SPELLINGS = {
    "log_level": " (any case; warn means warning, fatal means critical)",
    "log_format": " (any case)",
}


class InvalidSettingsError(ValueError):
    """The environment or `.env` holds a value a setting does not accept."""


def _is_secret(name: str, field: FieldInfo | None) -> bool:
    # URLs may carry a password; secrets are never echoed, even when they are wrong.
    annotation = str(field.annotation) if field is not None else ""
    return name.endswith(("_url", "_dsn")) or SecretStr.__name__ in annotation


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "bool_parsing":
        return "expected true or false (or 1/0, yes/no, on/off)"
    if error.get("type") == "value_error":
        return message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return "expected " + message.removeprefix("Input should be ")
    return message[:1].lower() + message[1:]


def explain(error: ValidationError, fields: Mapping[str, FieldInfo]) -> str:
    """`LOG_LEVEL='verbose': expected 'debug', 'info', ...` for every refused setting,
    joined on one line."""
    parts = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem.get("loc") else ""
        variable = name.upper() or "settings"
        value = problem.get("input")
        shown = (
            "" if _is_secret(name, fields.get(name)) or isinstance(value, dict) else f"={value!r}"
        )
        parts.append(f"{variable}{shown}: {_reason(problem)}{SPELLINGS.get(name, '')}")
    return "invalid setting " + "; ".join(parts)
