"""The engine catalogue: every registered engine is checked by the contract, and only training
a PyTorch engine loads PyTorch."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import tests.engines
from recommender.engines import ENGINE_MODULES, engine_names
from tests.engines.contract import EngineContract

REPO = Path(__file__).resolve().parents[2]


def _contracts() -> list[type[EngineContract]]:
    """The contract classes pytest collects from this folder (named Test*)."""
    for module in pkgutil.iter_modules(tests.engines.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"tests.engines.{module.name}")
    found, pending = [], list(EngineContract.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__name__.startswith("Test") and cls.__module__.startswith("tests.engines.test_"):
            found.append(cls)
    return found


def test_every_registered_engine_has_a_contract_test() -> None:
    checked = {cls.engine_name for cls in _contracts()}
    missing = sorted(set(ENGINE_MODULES) - checked)
    assert not missing, f"engines without an EngineContract subclass in tests/engines: {missing}"


def _python(code: str) -> str:
    """Run code in a fresh interpreter from the checkout; its standard output."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_loading_any_engine_does_not_import_torch() -> None:
    said = _python(
        f"""
        import sys
        from recommender.engines import engine_class
        for name in {engine_names()!r}:
            engine = engine_class(name)
            engine.model_type, engine.params_type, engine.trainable
        import recommender.engines.ncf, recommender.engines.rl
        print("torch" in sys.modules)
        """
    )
    assert said == "False"


def test_training_a_torch_engine_imports_torch() -> None:
    # The other side of the check above: it would see torch if it were there.
    said = _python(
        """
        import sys
        from recommender.engines import engine_class
        from tests.engines.contract import checkerboard
        engine_class("bpr")({"epochs": 1}).fit(checkerboard()[0])
        print("torch" in sys.modules)
        """
    )
    assert said == "True"
