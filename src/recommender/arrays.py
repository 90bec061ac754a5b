"""The array types the project passes around: one alias per element type."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# Ids and positions.
IntArray = NDArray[np.int64]
# Scores, weights and model parameters: single precision, as served and stored.
FloatArray = NDArray[np.float32]
# Probabilities and statistics that need double precision (simulation, synthetic data).
DoubleArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
