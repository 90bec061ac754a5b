"""Schemathesis against the app's own OpenAPI document: every operation, generated inputs
(valid and invalid), no 5xx and no answer that breaks the documented schema.

Each operation is fuzzed by a test of its own, on an app of its own with the same catalogue,
and counts its own cases, so the tests pass or fail alike in any order or alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]


def _app(folder: Path) -> FastAPI:
    return create_app(make_settings(f"sqlite:///{folder / 'fuzz.db'}", folder, rate_limit_per_s=0))


def _schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _has_inputs(operation: schemathesis.APIOperation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)


# The document does not depend on the app's state: one built without starting it names the
# operations.
OPERATIONS = {
    operation.label: _has_inputs(operation)
    for operation in (
        result.ok() for result in _schema(_app(Path("/nonexistent"))).get_all_operations()
    )
}


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
        case.call_and_validate(checks=CHECKS)

    fuzz()
    print(f"{label}: {len(cases)} generated cases")
    wanted = EXAMPLES_PER_OPERATION if OPERATIONS[label] else 1
    assert len(cases) >= wanted, f"{label}: only {len(cases)} cases"
