"""RL: an actor-critic (TD3+BC) over user journeys that serves lists of services; the original
recommender's "RL agent", trained, evaluated and served like every other engine."""

from recommender.engines.rl.engine import RLEngine, RLParams
from recommender.engines.rl.model import RLModel

ENGINE = RLEngine

__all__ = ["ENGINE", "RLEngine", "RLModel", "RLParams"]
