"""The runner: engines trained per seed and measured on the same episodes, with intervals."""

from __future__ import annotations

import pytest

from recommender.engines import UnknownEngineError
from recommender.simulation import OraclePolicy, simulate, t_interval
from recommender.synthetic import SynthConfig

SMALL = SynthConfig(services=60, users=120, days=4, sessions_per_day=0.3)


def test_the_t_interval_of_a_few_means() -> None:
    low, high = t_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.3027; the standard error of the mean is 1 / sqrt(3).
    assert (low, high) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-3)
    assert t_interval([1.5]) == (1.5, 1.5)


def test_simulate_reports_each_engine_over_seeds_and_repeats_itself() -> None:
    calls: list[float] = []
    report = simulate(
        SMALL,
        ["Popularity", "random"],
        [3, 4],
        episodes=30,
        steps=3,
        references={"oracle": OraclePolicy.of},
        progress=lambda fraction, _: calls.append(fraction),
    )
    assert list(report.results) == ["popularity", "random", "oracle"]
    for result in report.results.values():
        assert result.episodes == 60
        assert len(result.per_seed) == 2
        assert result.ci95[0] <= result.mean_return <= result.ci95[1]
        assert result.ctr == result.clicks / result.shown
        assert result.order_rate == result.orders / result.shown
        assert result.dropped == 0
    assert calls == sorted(calls)
    assert calls[-1] == 1.0
    assert report.results["oracle"].mean_return > report.results["random"].mean_return
    assert report.config["seeds"] == [3, 4]
    assert report.config["rewards"]["order"] == 1.0
    again = simulate(
        SMALL,
        ["popularity", "random"],
        [3, 4],
        episodes=30,
        steps=3,
        references={"oracle": OraclePolicy.of},
    )
    figures = {"mean_return", "ci95", "ctr", "order_rate", "per_seed"}

    def strip(doc: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
        return {name: {k: v for k, v in r.items() if k in figures} for name, r in doc.items()}

    assert strip(again.to_json()["results"]) == strip(report.to_json()["results"])


def test_an_unknown_engine_fails_before_any_work() -> None:
    with pytest.raises(UnknownEngineError, match="'nope'"):
        simulate(SynthConfig(services=5000, users=100_000), ["popularity", "nope"], [0], 10)


def test_simulate_lets_visitors_browse_when_asked() -> None:
    runs = {
        browse: simulate(SMALL, ["itemknn"], [3], episodes=40, steps=3, browse=browse)
        for browse in (False, True)
    }
    assert runs[False].config["browse"] is False
    assert runs[True].config["browse"] is True
    # itemknn reads the history, which opened search results lengthen.
    on, off = runs[True].results["itemknn"], runs[False].results["itemknn"]
    assert (on.mean_return, on.clicks, on.shown) != (off.mean_return, off.clicks, off.shown)
