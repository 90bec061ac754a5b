"""The RL engine: what the engine catalogue loads, without PyTorch (serving an RL model reads
numpy arrays only); fitting one imports the training code, and with it PyTorch."""

from __future__ import annotations

from recommender.engines.base import Engine, TrainingOptions
from recommender.engines.hardware import limited_threads
from recommender.engines.rl.model import RLModel
from recommender.engines.rl.params import RLParams
from recommender.interactions import Interactions


class RLEngine(Engine[RLParams]):
    name = "rl"
    params_type = RLParams
    model_type = RLModel
    uses_validation = True
    learns_from_panels = True

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> RLModel:
        # Here rather than at the top: the training code imports PyTorch.
        from recommender.engines.rl.training import fit

        with limited_threads(torch_threads=self.params.threads):
            return fit(self.params, data, options or TrainingOptions())
