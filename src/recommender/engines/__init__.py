"""The catalogue of engines: names, aliases and lazy loading of their modules."""

from __future__ import annotations

import importlib
import re

from recommender.engines.base import Engine

# Heavy engines (PyTorch) are only imported when first used.
ENGINE_MODULES: dict[str, str] = {
    "popularity": "recommender.engines.popularity",
    "random": "recommender.engines.random",
    "itemknn": "recommender.engines.itemknn",
    "ease": "recommender.engines.ease",
    "ials": "recommender.engines.ials",
    "bpr": "recommender.engines.bpr",
    "ncf": "recommender.engines.ncf",
    "rl": "recommender.engines.rl",
}

# Names the original EOSC recommender used for its agents.
ALIASES: dict[str, str] = {"rl_agent": "rl", "pre_agent": "ncf"}


class UnknownEngineError(ValueError):
    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(ENGINE_MODULES))
        super().__init__(f"unknown engine {name!r}; known engines: {known}")
        self.name = name


def canonical_name(name: str) -> str:
    """The engine a (case-insensitive, possibly legacy) name stands for."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in ENGINE_MODULES:
        raise UnknownEngineError(name)
    return key


def engine_names() -> list[str]:
    return list(ENGINE_MODULES)


def trainable_names() -> list[str]:
    """Engines that learn from the store (popularity and random are counted or drawn)."""
    return [name for name in engine_names() if engine_class(name).trainable]


def accepted_names() -> list[str]:
    """Every name an engine answers to, in the case `canonical_name` turns others into."""
    return [*ENGINE_MODULES, *ALIASES]


def _any_case(name: str) -> str:
    # str.lower() turns the Kelvin sign into a plain k: it names the same engines.
    letters = {"k": "[kK\u212a]"}
    return "".join(
        letters.get(c, f"[{c}{c.upper()}]") if c.isalpha() else re.escape(c) for c in name
    )


def name_pattern(*, or_empty: bool = False) -> str:
    """A regular expression (JSON Schema's dialect) that matches exactly the names
    `canonical_name` accepts: any case, surrounded by any whitespace `str.strip` removes;
    with `or_empty`, the empty string too (a request that names no engine)."""
    space = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
    names = "|".join(_any_case(name) for name in accepted_names())
    named = f"[{space}]*(?:{names})[{space}]*"
    return f"^(?:{named}|)$" if or_empty else f"^{named}$"


def engine_class(name: str) -> type[Engine]:  # type: ignore[type-arg]
    module = importlib.import_module(ENGINE_MODULES[canonical_name(name)])
    cls: type[Engine] = module.ENGINE  # type: ignore[type-arg]
    return cls
