"""Fitting the NCF engine: GMF pre-trained by implicit ALS, the softmax head, then the fused
branches on sampled negatives with Adam, stopped early on the validation fold."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from recommender.arrays import IntArray
from recommender.engines.base import TrainingOptions, Validation
from recommender.engines.early_stopping import EarlyStopping
from recommender.engines.features import FeatureSpace
from recommender.engines.hardware import training_device
from recommender.engines.ials import IALSEngine
from recommender.engines.lookup import positions
from recommender.engines.ncf.distributed import Objective, Ranks, fused_parameters
from recommender.engines.ncf.export import export
from recommender.engines.ncf.head import (
    SMALLEST_BATCH,
    HeadFit,
    choose_head_weight,
    fit_head,
    held_out_people,
)
from recommender.engines.ncf.model import NCFModel
from recommender.engines.ncf.network import NeuMFNetwork
from recommender.engines.ncf.params import NCFParams
from recommender.engines.ncf.sampling import TrainingSet, history_sample, negatives, training_set
from recommender.interactions import Interactions

log = logging.getLogger(__name__)

NetState = dict[str, Any]
# Validation metrics recorded as curves whatever `stop_metric` follows.
_RECORDED = ("HR", "NDCG")


@dataclass(frozen=True, eq=False)
class _Setup:
    """The network and everything it trains on, built once per fit."""

    data: Interactions
    active: IntArray  # the user rows with training data: the model's users, in order
    space: FeatureSpace
    train: TrainingSet
    net: NeuMFNetwork
    user_features: Tensor
    item_features: Tensor
    device: torch.device
    ranks: Ranks

    def model(self, meta: dict[str, Any]) -> NCFModel:
        return export(self.net, self.data, self.active, self.space, self.train, meta)


def _setup(p: NCFParams, data: Interactions, options: TrainingOptions) -> _Setup:
    device = training_device(options.device)
    active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
    space = FeatureSpace.of(data.feature_vocab, set(data.item_features) | set(data.user_features))
    train = training_set(data, active, space, p.history_length)
    net = NeuMFNetwork(
        n_users=active.shape[0],
        n_items=data.n_items,
        n_features=space.size,
        gmf_factors=p.gmf_factors,
        mlp_factors=p.mlp_factors,
        mlp_layers=tuple(p.mlp_layers),
        content_factors=p.content_factors,
        init_std=p.init_std,
        content_init_std=p.content_init_std,
        generator=torch.Generator().manual_seed(options.seed),
    ).to(device)
    if p.pretrain == "ials" and train.n_pairs:
        _pretrain_gmf(net, data, active, p.gmf_factors, options.seed)
    return _Setup(
        data=data,
        active=active,
        space=space,
        train=train,
        net=net,
        user_features=torch.from_numpy(train.user_features).to(device),
        item_features=torch.from_numpy(train.item_features).to(device),
        device=device,
        ranks=Ranks.current(),
    )


def _pretrain_gmf(
    net: NeuMFNetwork, data: Interactions, active: IntArray, factors: int, seed: int
) -> None:
    """Copy implicit-ALS factors into the GMF embeddings, scaled so that the dot products of
    observed pairs start with a spread of a few logits."""
    als = IALSEngine({"factors": factors}).fit(data, TrainingOptions(seed=seed))
    rows = positions(als.user_ids, data.user_ids[active])
    users = np.zeros((active.shape[0], factors), dtype=np.float32)
    users[rows >= 0] = als.user_factors[rows[rows >= 0]]
    items = als.item_factors
    matrix = data.matrix[active].tocoo()
    sample = np.arange(min(matrix.nnz, 100_000))
    spread = float(np.std((users[matrix.row[sample]] * items[matrix.col[sample]]).sum(axis=1)))
    scale = np.sqrt(2.0 / max(spread, 1e-6))
    with torch.no_grad():
        net.user_gmf.weight.copy_(torch.from_numpy(users * scale))
        net.item_gmf.weight.copy_(torch.from_numpy(np.ascontiguousarray(items * scale)))


def _head(p: NCFParams, s: _Setup, options: TrainingOptions) -> HeadFit:
    if not (p.head_epochs and s.train.n_pairs):
        return HeadFit()
    held = (
        held_out_people(s.data, s.space, p.history_length, options.validation, s.device)
        if options.validation is not None
        else None
    )
    # For a ranking `head_stop_metric`: the model with its head, which ranks by the head
    # alone whoever it has no id vector for.
    meta = {"history_length": p.history_length, "head": True, "head_weight": 0.0}
    return fit_head(
        s.net,
        s.train,
        s.user_features,
        s.item_features,
        p,
        options,
        held,
        lambda: s.model(meta),
        s.ranks,
    )


def _optimiser(p: NCFParams, net: NeuMFNetwork) -> torch.optim.Optimizer:
    """Adam over the fused branches (the head is fitted already), the content tower at its
    own step size."""
    content = net.content_parameters()
    apart = {id(tensor) for tensor in (*net.head_parameters(), *content)}
    rest = [tensor for tensor in net.parameters() if id(tensor) not in apart]
    groups: list[dict[str, Any]] = [
        {"params": rest},
        {"params": content, "lr": p.content_learning_rate or p.learning_rate},
    ]
    return torch.optim.Adam(groups, lr=p.learning_rate)


def _batching(p: NCFParams, n_pairs: int) -> tuple[int, int]:
    """Positives per step and passes per epoch: small data sets get smaller batches, and
    below `SMALLEST_BATCH` several passes, so that an epoch takes `min_steps_per_epoch`."""
    batch_size = max(
        min(SMALLEST_BATCH, p.batch_size, n_pairs),
        min(p.batch_size, -(-n_pairs // p.min_steps_per_epoch)),
        1,
    )
    passes = -(-p.min_steps_per_epoch // max(1, -(-n_pairs // batch_size)))
    return batch_size, passes


def _loss(logits: Tensor, weights: Tensor, kind: str) -> Tensor:
    """Column 0 of `logits` holds each positive, the other columns its sampled negatives."""
    if kind == "bpr":
        margin = logits[:, :1] - logits[:, 1:]
        per_positive = -torch.nn.functional.logsigmoid(margin).mean(dim=1)
        return _mean(per_positive * weights)
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    sample = torch.ones_like(logits)
    sample[:, 0] = weights
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return _mean((losses * sample).sum(dim=1)) / logits.shape[1]


def _mean(values: Tensor) -> Tensor:
    # A process's share of a global batch may be empty; it still takes part in the step.
    return values.mean() if values.numel() else values.sum()


def _l2(net: NeuMFNetwork, users: Tensor, items: Tensor) -> Tensor:
    """The squared length of the id embeddings a batch reads."""
    penalty: Tensor = sum(
        table(index).pow(2).sum()
        for table, index in (
            (net.user_gmf, users),
            (net.user_mlp, users),
            (net.item_gmf, items),
            (net.item_mlp, items),
            (net.item_content, items),
        )
    )
    return penalty


class _FusedObjective(Objective):
    """The fused branches' loss on a batch, times the weight of this process's share."""

    def __init__(self, p: NCFParams, s: _Setup) -> None:
        super().__init__(s.net, fused_parameters(s.net))
        self.p, self.s = p, s

    def forward(
        self, users: Tensor, history: Tensor, items: Tensor, weights: Tensor, share: float
    ) -> Tensor:
        p, s = self.p, self.s
        fused, content = self.net(
            users, s.user_features[users], history, items, s.item_features[items]
        )
        loss = _loss(fused, weights, p.loss) + p.content_weight * _loss(content, weights, p.loss)
        if p.l2 > 0:
            loss = loss + p.l2 * _l2(self.net, users, items) / max(users.shape[0], 1)
        return loss * share


class _FusedTraining:
    """The fused branches' gradient steps over sampled negatives, each process taking its
    share of every batch (all draw the same batches: the same seed, the same draws)."""

    def __init__(self, p: NCFParams, s: _Setup, rng: np.random.Generator, ranks: Ranks) -> None:
        self.p, self.s, self.rng, self.ranks = p, s, rng, ranks
        self.optimiser = _optimiser(p, s.net)
        self.batch_size, self.passes = _batching(p, s.train.n_pairs)
        self.objective = ranks.wrap(_FusedObjective(p, s))

    def _tensor(self, values: NDArray[Any]) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(values)).to(self.s.device)

    def epoch(self) -> float:
        """`passes` passes over the positives in fresh orders; the mean batch loss."""
        s, p, n_pairs = self.s, self.p, self.s.train.n_pairs
        s.net.train()
        order = np.concatenate([self.rng.permutation(n_pairs) for _ in range(self.passes)])
        total, batches = 0.0, 0
        for start in range(0, order.shape[0], self.batch_size):
            chosen = order[start : start + self.batch_size]
            users, items = s.train.users[chosen], s.train.items[chosen]
            drawn = negatives(self.rng, s.train, users, s.data.n_items, p.negatives)
            history = history_sample(
                self.rng,
                s.train,
                users,
                items,
                p.history_samples,
                s.data.n_items,
                p.history_dropout,
            )
            mine = self.ranks.share(chosen.shape[0])
            loss = self.objective(
                self._tensor(users[mine]),
                self._tensor(history[mine]),
                self._tensor(np.concatenate([items[:, None], drawn], axis=1)[mine]),
                self._tensor(s.train.weights[chosen[mine]]),
                self.ranks.weight(chosen.shape[0]),
            )
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            total += float(loss.detach().item())
            batches += 1
        return self.ranks.mean(total / max(batches, 1))


def _validation_curves(validation: Validation | None) -> dict[str, list[float]]:
    if validation is None:
        return {}
    return {f"val_{validation.label(name)}": [] for name in _RECORDED}


def _fit_fused(
    p: NCFParams,
    s: _Setup,
    options: TrainingOptions,
    head: HeadFit,
    meta: dict[str, Any],
) -> tuple[EarlyStopping[NetState], dict[str, list[float]]]:
    """Train the fused branches for `epochs` passes at most, checking the validation fold
    after each (ranked by the fused score alone); returns the stopping rule and the curves."""
    validation = options.validation
    fused = _FusedTraining(p, s, np.random.default_rng(options.seed), s.ranks)
    stopping: EarlyStopping[NetState] = EarlyStopping(p.stop_metric, p.patience)
    # Seconds of each epoch's gradient steps (ranking the validation fold not included).
    curves: dict[str, list[float]] = {"loss": [], "epoch_s": [], **_validation_curves(validation)}
    planned = head.run + p.epochs
    for epoch in range(1, p.epochs + 1 if s.train.n_pairs else 1):
        began = time.perf_counter()
        curves["loss"].append(fused.epoch())
        curves["epoch_s"].append(time.perf_counter() - began)
        message = f"epoch {epoch}: loss {curves['loss'][-1]:.4f}"
        stop = False
        if validation is not None:
            s.net.eval()
            # The first process ranks the fold; every process then takes the same decision.
            figures = s.ranks.decide(lambda: dict(validation.evaluate(s.model(meta))))
            for name in _RECORDED:
                curves[f"val_{validation.label(name)}"].append(figures[name])
            message += ", validation " + " ".join(
                f"{validation.label(name)} {figures[name]:.4f}" for name in _RECORDED
            )
            stop = stopping.check(epoch, figures, lambda: copy.deepcopy(s.net.state_dict()))
        options.progress((head.run + epoch) / planned, message)
        if stop:
            break
    return stopping, curves | head.curves


def fit(p: NCFParams, data: Interactions, options: TrainingOptions) -> NCFModel:
    """An NCF model of `data`; with `options.validation`, stopped early and with the head's
    weight chosen on it (both recorded in the model's `fitted_params`)."""
    s = _setup(p, data, options)
    head = _head(p, s, options)
    # While the fused branches train, validation ranks by their score alone.
    meta: dict[str, Any] = {
        "history_length": p.history_length,
        "head": head.epochs > 0,
        "head_weight": 0.0,
    }
    stopping, curves = _fit_fused(p, s, options, head, meta)
    fitted: dict[str, Any] = {}
    if stopping.best_state is not None:
        s.net.load_state_dict(stopping.best_state)
        fitted = {"epochs": stopping.best_at}
        if head.epochs:
            fitted["head_epochs"] = head.epochs
    s.net.eval()
    weight = p.head_weight
    if head.epochs and weight is None and options.validation is not None and s.train.n_pairs:
        validation = options.validation
        weight, said = s.ranks.decide(
            lambda: choose_head_weight(s.model(meta), validation, p.stop_metric)
        )
        fitted["head_weight"] = weight
        log.info("ncf: %s", said)
        options.progress(1.0, said)
    meta["head_weight"] = 1.0 if weight is None else weight
    return s.model({**meta, "curves": curves, "fitted": fitted})
