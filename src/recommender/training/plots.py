"""Training curves as a PNG plot (loss and validation quality per epoch)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence


def curves_png(curves: Mapping[str, Sequence[float]], title: str) -> bytes | None:
    """One panel per curve, epochs on the x axis; None when there is nothing to draw."""
    drawable = {name: list(values) for name, values in curves.items() if len(values) > 0}
    if not drawable:
        return None
    # A bare Figure renders through Agg without touching pyplot's global backend, so drawing
    # here never changes how a caller's own plots show (a notebook's inline backend).
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(drawable), 3.2))
    axes = figure.subplots(1, len(drawable), squeeze=False)
    for axis, (name, values) in zip(axes[0], drawable.items(), strict=True):
        axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
