"""Schemathesis against the app's own OpenAPI document: every operation, generated inputs
(valid and invalid), no 5xx and no answer that breaks the documented schema."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from recommender.api.app import create_app
from tests.api.conftest import load_catalog, make_settings
from tests.factories import two_communities

pytestmark = pytest.mark.slow

# 100 generated cases for each of the operations (well over a thousand in all).
EXAMPLES_PER_OPERATION = 100
fuzzed: list[int] = []


# The schema is read when the module is imported; the app's runtime (database, models)
# starts in the fixture below, which every generated case runs inside.
_data = Path(tempfile.mkdtemp(prefix="fuzz-"))
app: FastAPI = create_app(
    make_settings(f"sqlite:///{_data / 'fuzz.db'}", _data, rate_limit_per_s=0)
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module", autouse=True)
def running() -> Iterator[None]:
    with TestClient(app) as client:
        load_catalog(client, two_communities())
        yield
    shutil.rmtree(_data, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_responses_match_the_schema(case: schemathesis.Case) -> None:
    fuzzed.append(1)
    case.call_and_validate(
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.specs.openapi.checks.status_code_conformance,
            schemathesis.specs.openapi.checks.content_type_conformance,
            schemathesis.specs.openapi.checks.response_schema_conformance,
            schemathesis.specs.openapi.checks.response_headers_conformance,
        ]
    )


def test_more_than_a_thousand_cases_were_generated() -> None:
    print(f"{len(fuzzed)} generated cases")
    assert len(fuzzed) >= 1000, f"only {len(fuzzed)} cases"
