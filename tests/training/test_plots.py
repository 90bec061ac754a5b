"""Training-curve plots: a PNG per version, drawn without changing the caller's plotting."""

from __future__ import annotations

import matplotlib

from recommender.training.plots import curves_png


def test_draws_a_png_with_one_panel_per_curve() -> None:
    image = curves_png({"loss": [0.9, 0.5, 0.4], "val HR@10": [0.2, 0.3, 0.31]}, "ncf training")
    assert image is not None
    assert image.startswith(b"\x89PNG\r\n\x1a\n")


def test_nothing_to_draw_gives_no_plot() -> None:
    assert curves_png({}, "popularity training") is None
    assert curves_png({"loss": []}, "bpr training") is None


def test_leaves_pyplot_backend_as_the_caller_set_it() -> None:
    # A notebook's inline backend must survive a training run in the same process.
    before = matplotlib.get_backend()
    curves_png({"loss": [1.0, 0.5]}, "bpr training")
    assert matplotlib.get_backend() == before
