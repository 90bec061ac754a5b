from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.engines import UnknownEngineError
from recommender.evaluation.params import engine_params, parse_flags, read_params, write_params


def test_flags_parse_numbers_booleans_and_text() -> None:
    flags = ["ease.l2=300", "itemknn.normalise=false", "ials.alpha=2.5", "EASE.note=x"]
    assert parse_flags(flags) == {
        "ease": {"l2": 300, "note": "x"},
        "itemknn": {"normalise": False},
        "ials": {"alpha": 2.5},
    }


@pytest.mark.parametrize("flag", ["ease", "ease=3", "ease.=3", "l2=3"])
def test_malformed_flags(flag: str) -> None:
    with pytest.raises(ValueError, match=r"ENGINE\.NAME=VALUE"):
        parse_flags([flag])


def test_unknown_engine_in_a_flag() -> None:
    with pytest.raises(UnknownEngineError):
        parse_flags(["magic.depth=3"])


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_write_merges_and_reads_back(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"params{suffix}"
    write_params(path, {"ease": {"l2": 500.0}})
    write_params(path, {"itemknn": {"neighbours": 50, "normalise": False}})
    write_params(path, {"ease": {"l2": 250.0}})
    assert read_params(path) == {
        "ease": {"l2": 250.0},
        "itemknn": {"neighbours": 50, "normalise": False},
    }


def test_config_that_is_not_per_engine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"l2": 3}))
    with pytest.raises(ValueError, match="one table"):
        read_params(path)


def test_later_sources_override_key_by_key() -> None:
    config = {"ease": {"l2": 100.0}, "ials": {"factors": 64, "alpha": 2.0}}
    flags = {"ials": {"alpha": 5.0}}
    assert engine_params(["ials", "popularity"], config, flags) == {
        "ials": {"factors": 64, "alpha": 5.0},
        "popularity": {},
    }
