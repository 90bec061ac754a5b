"""Engine hyper-parameters from config files (TOML or JSON, one table per engine) and from
`engine.name=value` flags, and writing the tuned ones back."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recommender.engines import canonical_name

EngineParamSets = dict[str, dict[str, Any]]


def read_params(path: Path) -> EngineParamSets:
    """`{engine: {name: value}}` from a `.toml` or `.json` file."""
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ValueError(f"{path}: expected one table of parameters per engine")
    return {canonical_name(engine): dict(values) for engine, values in raw.items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise ValueError(f"cannot write {value!r} to TOML: only numbers, booleans and strings")


def write_params(path: Path, params: Mapping[str, Mapping[str, Any]]) -> None:
    """Write parameter sets, keeping the other engines' sets already in the file."""
    merged = read_params(path) if path.exists() else {}
    merged.update({engine: dict(values) for engine, values in params.items()})
    if path.suffix == ".json":
        text = json.dumps(merged, indent=2, sort_keys=True) + "\n"
    else:
        tables = [
            f"[{engine}]\n"
            + "".join(f"{key} = {_toml_value(value)}\n" for key, value in sorted(values.items()))
            for engine, values in sorted(merged.items())
        ]
        text = "\n".join(tables)
    path.write_text(text, encoding="utf-8")


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_flags(flags: Iterable[str]) -> EngineParamSets:
    """`["ease.l2=300", "ials.alpha=2"]` -> `{"ease": {"l2": 300}, "ials": {"alpha": 2}}`;
    values are read as JSON where they parse (numbers, true/false), as text otherwise."""
    out: EngineParamSets = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        engine, dot, key = name.partition(".")
        if not sep or not dot or not key:
            raise ValueError(f"expected ENGINE.NAME=VALUE, got {flag!r}")
        out.setdefault(canonical_name(engine), {})[key.strip()] = _literal(value.strip())
    return out


def engine_params(
    engines: Sequence[str], *sources: Mapping[str, Mapping[str, Any]]
) -> EngineParamSets:
    """Parameters for each named engine; later sources override earlier ones key by key."""
    names = [canonical_name(engine) for engine in engines]
    out: EngineParamSets = {name: {} for name in names}
    for source in sources:
        for engine, values in source.items():
            if engine in out:
                out[engine].update(values)
    return out
