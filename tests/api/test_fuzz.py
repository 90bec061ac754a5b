"""Schemathesis against the app's own OpenAPI document: every operation, generated inputs
(valid and invalid), and every check: no 5xx, answers as documented, valid input accepted
and invalid input refused, so the document says exactly what the server enforces.

Each operation is fuzzed by a test of its own, on an app of its own with the same catalogue,
and counts its own cases, so the tests pass or fail alike in any order or alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as CHECKS_REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from recommender.api.app import create_app
from tests.api.conftest import load_catalog, make_settings
from tests.factories import two_communities

pytestmark = pytest.mark.slow

# Generated cases per operation (well over a thousand in all); one whose inputs allow fewer
# distinct cases (no parameters, say) gets every one of them.
EXAMPLES_PER_OPERATION = 100
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
load_all_checks()
CHECKS = CHECKS_REGISTRY.get_all()
# What JSON Schema cannot say: a body valid by the schema may still be refused for these,
# and only for these. A dump's ids are unique and its references name its own ids (see
# DUMP_SCHEMA); an experiment's arm names are unique, its name is new, its panels are free
# and its versions can serve; an arm promoted is one of its arms (the store's state).
DUMP_RULES = ("duplicate id", "is not in the dump", "used by another record", "not a number")
BEYOND_THE_SCHEMA = {
    "POST /database_dumps": DUMP_RULES,
    "POST /update": DUMP_RULES,
    "POST /experiments": (
        "is used twice",
        "exists",
        "stop it first",
        "has no version",
        "cannot serve",
    ),
    "POST /experiments/{experiment_id}/promote/{arm}": ("no arm",),
}


def _validate(case: schemathesis.Case, label: str) -> None:
    rules = BEYOND_THE_SCHEMA.get(label)
    if rules is None:
        case.call_and_validate(checks=CHECKS)
        return
    response = case.call_and_validate(
        checks=CHECKS, excluded_checks=[openapi_checks.positive_data_acceptance]
    )
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and response.status_code == 400:
        body = response.json()
        problems = [p["message"] for p in body["problems"]] + list(body["errors"].values())
        assert problems and all(any(rule in p for rule in rules) for p in problems), problems
    elif positive:  # as positive_data_acceptance: accepted, or about a missing or ended thing
        assert response.status_code < 400 or response.status_code in (404, 409), response.text


def _app(folder: Path) -> FastAPI:
    return create_app(make_settings(f"sqlite:///{folder / 'fuzz.db'}", folder, rate_limit_per_s=0))


def _schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _has_inputs(operation: schemathesis.APIOperation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)


def _operations() -> dict[str, bool]:
    # The document does not depend on the app's state: one built without starting it names
    # the operations. Its folder is a fresh one: building the app may create the database
    # file, and one left by another checkout could hold another schema revision.
    with tempfile.TemporaryDirectory() as folder:
        return {
            operation.label: _has_inputs(operation)
            for operation in (
                result.ok() for result in _schema(_app(Path(folder))).get_all_operations()
            )
        }


OPERATIONS = _operations()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """A running app on a fresh database holding the two-communities catalogue."""
    fresh = _app(tmp_path)
    with TestClient(fresh) as client:
        load_catalog(client, two_communities())
        yield fresh


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_errors_and_responses_match_the_schema(app: FastAPI, label: str) -> None:
    operation = _schema(app).find_operation_by_label(label)
    assert operation is not None, label
    cases: list[str] = []

    @given(case=st.one_of([operation.as_strategy(generation_mode=mode) for mode in MODES]))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: schemathesis.Case) -> None:
        cases.append(case.method)
        _validate(case, label)

    fuzz()
    print(f"{label}: {len(cases)} generated cases")
    wanted = EXAMPLES_PER_OPERATION if OPERATIONS[label] else 1
    assert len(cases) >= wanted, f"{label}: only {len(cases)} cases"
