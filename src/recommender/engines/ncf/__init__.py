"""NCF: NeuMF (GMF + MLP over id embeddings) fused with a content tower over service and user
features and recent history; the original recommender's "Pre-Agent", done right.

Importing the package does not import PyTorch: only fitting does (`training.py` and the
modules it reads: `network.py`, `head.py`, `export.py`).
"""

from recommender.engines.ncf.engine import NCFEngine
from recommender.engines.ncf.model import NCFModel
from recommender.engines.ncf.params import NCFParams

ENGINE = NCFEngine

__all__ = ["ENGINE", "NCFEngine", "NCFModel", "NCFParams"]
