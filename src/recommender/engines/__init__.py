"""The catalogue of engines: names, aliases and lazy loading of their modules."""

from __future__ import annotations

import importlib

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


def engine_class(name: str) -> type[Engine]:  # type: ignore[type-arg]
    module = importlib.import_module(ENGINE_MODULES[canonical_name(name)])
    cls: type[Engine] = module.ENGINE  # type: ignore[type-arg]
    return cls
