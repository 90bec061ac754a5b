"""NCF: NeuMF (GMF + MLP over id embeddings) fused with a content tower over service and user
features and recent history; the original recommender's "Pre-Agent", done right."""

from recommender.engines.ncf.engine import NCFEngine, NCFParams
from recommender.engines.ncf.model import NCFModel

ENGINE = NCFEngine

__all__ = ["ENGINE", "NCFEngine", "NCFModel", "NCFParams"]
