"""A synthetic EOSC marketplace: real catalogue names, synthetic users, journeys and truth."""

from recommender.synthetic.behaviour import BehaviourModel, BehaviourParams, Response
from recommender.synthetic.generator import (
    OUTPUT_FILES,
    SynthConfig,
    SyntheticMarketplace,
    generate,
    save,
    write,
    write_bundle,
)
from recommender.synthetic.ground_truth import behaviour_from_ground_truth

__all__ = [
    "OUTPUT_FILES",
    "BehaviourModel",
    "BehaviourParams",
    "Response",
    "SynthConfig",
    "SyntheticMarketplace",
    "behaviour_from_ground_truth",
    "generate",
    "save",
    "write",
    "write_bundle",
]
