"""The NCF engine: what the engine catalogue loads, without PyTorch (serving an NCF model
reads numpy arrays only); fitting one imports the training code, and with it PyTorch."""

from __future__ import annotations

from recommender.engines.base import Engine, TrainingOptions
from recommender.engines.hardware import limited_threads
from recommender.engines.ncf.model import NCFModel
from recommender.engines.ncf.params import NCFParams
from recommender.interactions import Interactions


class NCFEngine(Engine[NCFParams]):
    name = "ncf"
    params_type = NCFParams
    model_type = NCFModel
    uses_validation = True
    distributed = True

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> NCFModel:
        # Here rather than at the top: the training code imports PyTorch.
        from recommender.engines.ncf.training import fit

        with limited_threads(torch_threads=self.params.threads):
            return fit(self.params, data, options or TrainingOptions())
