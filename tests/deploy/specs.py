"""Reading the deployment files as their tools do: Dockerfile instructions, compose documents
with their `${VARIABLE}` interpolation, and .dockerignore patterns."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
COMPOSE = REPO_ROOT / "compose.yaml"
COMPOSE_OVERRIDE = REPO_ROOT / "compose.override.yaml"
COMPOSE_JUPYTER = REPO_ROOT / "compose.jupyter.yaml"
COMPOSE_TESTING = REPO_ROOT / "compose.testing.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Every instruction with its continuation lines joined; comments dropped."""
    found: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        found.append(Instruction(keyword.upper(), " ".join(arguments.split()), stage))
    return found


def final_stage(path: Path = DOCKERFILE) -> list[Instruction]:
    every = instructions(path)
    last = max(instruction.stage for instruction in every)
    return [instruction for instruction in every if instruction.stage == last]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form CMD, ENTRYPOINT or HEALTHCHECK ... CMD."""
    command = json.loads(arguments[arguments.index("[") :])
    assert isinstance(command, list) and all(isinstance(part, str) for part in command)
    return command


def image_command(keyword: str) -> list[str] | None:
    """The last CMD or ENTRYPOINT of the final stage (the one that takes effect)."""
    chosen = [i for i in final_stage() if i.keyword == keyword]
    return exec_form(chosen[-1].arguments) if chosen else None


def image_healthcheck() -> list[str]:
    (check,) = [i for i in final_stage() if i.keyword == "HEALTHCHECK"]
    _options, _, command = check.arguments.partition(" CMD ")
    return exec_form(command)


class InterpolationError(ValueError):
    pass


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?+])(?P<argument>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's substitution: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
    ${NAME:?error}, ${NAME?error}, ${NAME:+other}, ${NAME+other}; any other `$` is an error."""
    if "$" in _VARIABLE.sub("", text):
        raise InterpolationError(f"a `$` that is no variable in {text!r} (write $$)")

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        operator, argument = match["operator"] or "", match["argument"] or ""
        value = env.get(name)
        # With a colon, an empty value counts as unset.
        present = bool(value) if operator.startswith(":") else value is not None
        if operator.endswith("-"):
            return value if present and value is not None else argument
        if operator.endswith("?"):
            if not present:
                raise InterpolationError(f"{name} is required: {argument}")
            return value or ""
        if operator.endswith("+"):
            return argument if present else ""
        return value or ""

    return _VARIABLE.sub(substitute, text)


def interpolated(document: Any, env: Mapping[str, str]) -> Any:
    """The document with every string value interpolated (keys are not, as in compose)."""
    if isinstance(document, dict):
        return {key: interpolated(value, env) for key, value in document.items()}
    if isinstance(document, list):
        return [interpolated(value, env) for value in document]
    if isinstance(document, str):
        return interpolate(document, env)
    return document


def load_compose(path: Path) -> dict[str, Any]:
    """The raw document; YAML anchors and merge keys resolved, nothing interpolated."""
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, in map or list form, as a map."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(entry.partition("=")[::2] for entry in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def dockerignore_inclusions(path: Path = DOCKERIGNORE) -> set[str]:
    """Paths an exclude-everything .dockerignore lets back in (`!name`)."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return {line[1:].rstrip("/") for line in lines if line.startswith("!")}


def dockerignore_excludes_everything_first(path: Path = DOCKERIGNORE) -> bool:
    lines = [line.strip() for line in path.read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    return bool(patterns) and patterns[0] == "*"


# Service keys whose lists compose joins when a later file names them again; any other list
# (command, entrypoint, healthcheck.test) is replaced. Volumes are joined by container path.
_JOINED_LISTS = {"ports", "expose", "dns", "extra_hosts", "volumes"}


def _volume_target(volume: Any) -> str:
    if isinstance(volume, str):
        parts = volume.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return str(volume["target"])


def _merged_value(key: str, base: Any, later: Any) -> Any:
    if isinstance(base, dict) and isinstance(later, dict):
        return {
            name: _merged_value(name, base[name], later[name])
            if name in base and name in later
            else later.get(name, base.get(name))
            for name in {**base, **later}
        }
    if key == "volumes" and isinstance(base, list) and isinstance(later, list):
        by_target = {_volume_target(v): v for v in base} | {_volume_target(v): v for v in later}
        return list(by_target.values())
    if key in _JOINED_LISTS and isinstance(base, list) and isinstance(later, list):
        return base + [value for value in later if value not in base]
    return later


def merged(base: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """Two compose documents as `docker compose -f base -f later` reads them (the rules our
    files use: mappings merge key by key, lists of ports and volumes join, others replace)."""
    result = _merged_value("", dict(base), dict(later))
    assert isinstance(result, dict)
    return result
