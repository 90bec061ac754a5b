"""A simulator of the Marketplace: synthetic visitors whose hidden interests answer our panels."""

from recommender.simulation.environment import MarketplaceEnv, Observation, Step
from recommender.simulation.policies import EnginePolicy, OraclePolicy, Policy, query_of
from recommender.simulation.rewards import PanelRewards
from recommender.simulation.rollout import Rollout, rollout
from recommender.simulation.runner import (
    EngineResult,
    Reference,
    SimulationReport,
    simulate,
    t_interval,
)
from recommender.simulation.training import (
    TrainingData,
    fit_engine,
    load_marketplace,
    marketplace_data,
    marketplace_interactions,
)

__all__ = [
    "EnginePolicy",
    "EngineResult",
    "MarketplaceEnv",
    "Observation",
    "OraclePolicy",
    "PanelRewards",
    "Policy",
    "Reference",
    "Rollout",
    "SimulationReport",
    "Step",
    "TrainingData",
    "fit_engine",
    "load_marketplace",
    "marketplace_data",
    "marketplace_interactions",
    "query_of",
    "rollout",
    "simulate",
    "t_interval",
]
