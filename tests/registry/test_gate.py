from __future__ import annotations

from recommender.registry.gate import judge

METRIC = "NDCG@10"


def test_passes_when_better_than_popularity_and_no_active_version() -> None:
    decision = judge({METRIC: 0.3}, {METRIC: 0.2}, None, metric=METRIC, margin=0.05)
    assert decision.passed and decision.reasons == []


def test_fails_when_not_better_than_popularity() -> None:
    decision = judge({METRIC: 0.2}, {METRIC: 0.2}, None, metric=METRIC, margin=0.05)
    assert not decision.passed
    assert decision.reasons == ["NDCG@10 0.2000 does not beat popularity's 0.2000"]


def test_margin_against_the_active_version() -> None:
    active = {METRIC: 0.40}
    assert judge({METRIC: 0.39}, {METRIC: 0.1}, active, metric=METRIC, margin=0.05).passed
    worse = judge({METRIC: 0.37}, {METRIC: 0.1}, active, metric=METRIC, margin=0.05)
    assert not worse.passed
    assert "more than 5% below the active version's 0.4000" in worse.reasons[0]


def test_missing_metric_fails() -> None:
    decision = judge({"HR@10": 0.5}, {METRIC: 0.1}, None, metric=METRIC, margin=0.05)
    assert not decision.passed and "did not report NDCG@10" in decision.reasons[0]
