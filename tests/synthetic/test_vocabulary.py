"""The packaged EOSC extract: complete, small, and rebuilt exactly from the public data."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from recommender.activity.pages import CATALOGUE, ORDER, SERVICE, PageGraph
from recommender.synthetic.vocabulary import FIXTURE_NAME, load_vocabulary
from tests.conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "src" / "recommender" / "fixtures" / FIXTURE_NAME


def _build_script() -> ModuleType:
    path = REPO_ROOT / "scripts" / "build_eosc_fixture.py"
    spec = importlib.util.spec_from_file_location("build_eosc_fixture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_packaged_extract_is_small_and_complete() -> None:
    assert FIXTURE.stat().st_size < 300 * 1024
    vocab = load_vocabulary()
    assert len(vocab.clusters) == 7
    assert len(vocab.services) == 58
    assert len(vocab.scientific_domains) == 52 and len(vocab.categories) == 202
    assert vocab.relations and vocab.european_countries and vocab.order_types
    sizes = {name: len(terms) for name, terms in vocab.vocabularies().items()}
    for service in vocab.services:
        for name in ("categories", "scientific_domains", "providers", "research_steps", "trls"):
            assert all(0 <= i < sizes[name] for i in getattr(service, name)), (service.name, name)
    assert {s["license"] for s in vocab.sources} == {"GPL-3.0", "Apache-2.0"}


def test_page_graph_reaches_orders_only_through_the_summary() -> None:
    graph = PageGraph.from_fixture(load_vocabulary().page_graph)
    assert graph.moves[CATALOGUE] == (SERVICE,)
    assert [page for page, moves in graph.moves.items() if ORDER in moves] == [
        "/services/{id}/summary"
    ]
    distance = graph.distance_to_order()
    assert distance[CATALOGUE] == 4 and distance[SERVICE] == 3
    assert graph.reward("/services/{id}/summary", ORDER) == "order"


@pytest.mark.data
def test_extract_is_rebuilt_exactly_from_the_public_data(eosc_dir: Path) -> None:
    script = _build_script()
    assert script.render(script.build(eosc_dir.parent)) == FIXTURE.read_text(encoding="utf-8")


@pytest.mark.data
def test_page_graph_is_the_seed_adjacency_matrix(eosc_dir: Path) -> None:
    with (eosc_dir / "recommender-seed" / "transition_adj_matrix.csv").open() as handle:
        rows = list(csv.reader(handle))
    graph = PageGraph.from_fixture(json.loads(FIXTURE.read_text())["page_graph"])
    pages = rows[0][1:]
    for row in rows[1:]:
        for target, allowed in zip(pages, row[1:], strict=True):
            assert graph.allowed(row[0], target) == (allowed == "1")
