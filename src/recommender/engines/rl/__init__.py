"""RL: an actor-critic (TD3+BC) over user journeys that serves lists of services; the original
recommender's "RL agent", trained, evaluated and served like every other engine.

Importing the package does not import PyTorch: only training does (`training.py` and the
modules it reads: `network.py`, `td3.py`).
"""

from recommender.engines.rl.engine import RLEngine
from recommender.engines.rl.model import RLModel
from recommender.engines.rl.params import RLParams

ENGINE = RLEngine

__all__ = ["ENGINE", "RLEngine", "RLModel", "RLParams"]
