"""Fitting NCF's softmax head: declared interests and recent services against every service
(or, in a large catalogue, a sample of them), fitted apart from the fused branches and before
them, then added to their score with a weight chosen on the validation fold (`network.py`
says why it is kept apart)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from recommender.engines.base import TrainingOptions, Validation
from recommender.engines.early_stopping import EarlyStopping
from recommender.engines.features import FeatureSpace, padded
from recommender.engines.ncf.distributed import Objective, Ranks
from recommender.engines.ncf.model import NCFModel
from recommender.engines.ncf.network import NeuMFNetwork
from recommender.engines.ncf.params import NCFParams
from recommender.engines.ncf.sampling import TrainingSet, head_history, histories
from recommender.interactions import Interactions

# Below this many positives a batch's gradient is mostly noise and per-step overhead.
SMALLEST_BATCH = 64
# Logits of the softmax head held at once when measuring its held-out loss: rows x services.
_BATCH_LOGITS = 4_000_000
# Weights of the softmax head's score tried on the validation fold (0: the fused score alone).
HEAD_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# The head's figure that `head_stop_metric` "loss" names.
_LOSS = "loss"


@dataclass(frozen=True, eq=False)
class People:
    """People as the softmax head reads them: declared interests (P, F) and recent services
    (P, H), both padded, with the service each one is to find and its weight."""

    features: Tensor
    history: Tensor
    targets: Tensor
    weights: Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def chunk(self, rows: Tensor | slice) -> People:
        return People(
            self.features[rows], self.history[rows], self.targets[rows], self.weights[rows]
        )


def _no_curves() -> dict[str, list[float]]:
    return {}


@dataclass(frozen=True)
class HeadFit:
    """What fitting the head did: the passes kept (0: no head), the passes run, its curves."""

    epochs: int = 0
    run: int = 0
    curves: dict[str, list[float]] = field(default_factory=_no_curves)


@dataclass(frozen=True, eq=False)
class Candidates:
    """The services one batch's softmax is taken over, sorted, with the log of each one's
    chance of being among them given the batch."""

    items: Tensor
    log_inclusion: Tensor


def sampled_candidates(
    rng: np.random.Generator, targets: NDArray[np.int64], n_items: int, size: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """A batch's own services (`targets`, always in) and `size` others drawn uniformly
    without replacement (each there with chance size / n_items), sorted, and the log of
    those chances. Dividing each exponentiated logit by its chance makes the candidates' sum
    an unbiased (Horvitz-Thompson) estimate of the sum over the whole catalogue, so the
    loss's normaliser is estimated without the in-batch services' popularity bias."""
    drawn = rng.choice(n_items, size=size, replace=False)
    items = np.union1d(targets, drawn).astype(np.int64)
    chance = np.where(np.isin(items, targets), 1.0, size / n_items)
    return items, np.log(chance).astype(np.float32)


def head_loss(
    net: NeuMFNetwork, people: People, item_features: Tensor, among: Candidates | None = None
) -> Tensor:
    """The head's weighted softmax loss: over every service, or over `among` (which holds
    every person's target) with each logit less the log of its chance of being there."""
    if among is None:
        logits = net.head_logits(people.features, people.history, item_features)
        targets = people.targets
    else:
        logits = net.head_logits(people.features, people.history, item_features, among.items)
        logits = logits - among.log_inclusion
        targets = torch.searchsorted(among.items, people.targets)
    losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    weighted = losses * people.weights
    # A process's share of a global batch may be empty; it still takes part in the step.
    return weighted.mean() if weighted.numel() else weighted.sum()


class _HeadObjective(Objective):
    """The head's loss on a batch, times the weight of this process's share."""

    def __init__(self, net: NeuMFNetwork, item_features: Tensor) -> None:
        super().__init__(net, net.head_parameters())
        self.item_features = item_features

    def forward(self, people: People, share: float, among: Candidates | None = None) -> Tensor:
        return head_loss(self.net, people, self.item_features, among) * share


def held_out_people(
    data: Interactions,
    space: FeatureSpace,
    length: int,
    validation: Validation,
    device: torch.device,
) -> People | None:
    """The held-out services of the validation users, with those users' declared features
    and the recent services of their training part."""
    heldout = validation.fold.heldout
    pairs = heldout.relevant.tocoo()
    if pairs.nnz == 0:
        return None
    users = heldout.users[pairs.row]
    rows = space.rows(data.user_features, data.n_users)[users]
    history, _ = histories(data, users, length)

    def tensor(values: NDArray[Any]) -> Tensor:
        return torch.from_numpy(values).to(device)

    return People(
        features=tensor(padded(rows, space.size)),
        history=tensor(history),
        targets=tensor(pairs.col.astype(np.int64)),
        weights=torch.ones(pairs.nnz, dtype=torch.float32, device=device),
    )


def _held_out_loss(net: NeuMFNetwork, people: People, item_features: Tensor) -> float:
    """The head's mean loss over held-out people, in chunks of bounded logits."""
    step = max(1, _BATCH_LOGITS // max(net.n_items, 1))
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(people), step):
            part = people.chunk(slice(start, start + step))
            total += float(head_loss(net, part, item_features).item()) * len(part)
    return total / max(len(people), 1)


def head_alone(model: NCFModel) -> NCFModel:
    """The model as it ranks people it has no id vector for: by the head alone."""
    a = model.arrays
    return NCFModel(
        {
            **a,
            "user_ids": a["user_ids"][:0],
            "user_gmf": a["user_gmf"][:0],
            "user_mlp_in": a["user_mlp_in"][:0],
        },
        model.features,
        model.meta,
    )


class _HeadTraining:
    """One fit of the head: its optimiser, its own random draws and the tensors it reads."""

    def __init__(
        self,
        net: NeuMFNetwork,
        train: TrainingSet,
        user_features: Tensor,
        item_features: Tensor,
        p: NCFParams,
        options: TrainingOptions,
        ranks: Ranks,
    ) -> None:
        self.net, self.train, self.user_features, self.p = net, train, user_features, p
        self.device, self.ranks = user_features.device, ranks
        self.objective = ranks.wrap(_HeadObjective(net, item_features))
        self.parameters = net.head_parameters()
        self.optimiser = torch.optim.Adam(self.parameters, lr=p.head_learning_rate)
        # Its own random draws, so the rest of the fit draws the same with or without a head.
        self.rng = np.random.default_rng([options.seed, 1])
        n_pairs = train.n_pairs
        self.batch = min(p.batch_size, max(SMALLEST_BATCH, -(-n_pairs // p.min_steps_per_epoch)))
        self.weights = torch.from_numpy(train.weights).to(self.device)

    def _tensor(self, values: NDArray[Any]) -> Tensor:
        return torch.from_numpy(values).to(self.device)

    def epoch(self) -> float:
        """One pass over every training pair in a fresh order, each process taking its share
        of every batch (all draw the same batches); the mean batch loss."""
        train, n_pairs = self.train, self.train.n_pairs
        order = self.rng.permutation(n_pairs)
        total, batches = 0.0, 0
        for start in range(0, n_pairs, self.batch):
            chosen = order[start : start + self.batch]
            users, items = train.users[chosen], train.items[chosen]
            history = head_history(
                self.rng, train, users, items, self.net.n_items, self.p.head_history_dropout
            )
            mine = self.ranks.share(chosen.shape[0])
            people = People(
                features=self.user_features[self._tensor(users[mine])],
                history=self._tensor(history[mine]),
                targets=self._tensor(items[mine]),
                weights=self.weights[self._tensor(chosen[mine])],
            )
            loss = self.objective(people, self.ranks.weight(chosen.shape[0]), self._among(items))
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            total += float(loss.detach().item())
            batches += 1
        return self.ranks.mean(total / max(batches, 1))

    def _among(self, targets: NDArray[np.int64]) -> Candidates | None:
        """What a batch with these targets is normalised over: every service, unless the
        catalogue holds more than `head_sample` (every process draws the same, from the
        same generator, so none is drawn in a catalogue small enough)."""
        size, n_items = self.p.head_sample, self.net.n_items
        if size == 0 or size >= n_items:
            return None
        items, log_inclusion = sampled_candidates(self.rng, targets, n_items, size)
        return Candidates(self._tensor(items), self._tensor(log_inclusion))

    def state(self) -> list[Tensor]:
        return [tensor.detach().clone() for tensor in self.parameters]

    def restore(self, state: list[Tensor]) -> None:
        with torch.no_grad():
            for tensor, kept in zip(self.parameters, state, strict=True):
                tensor.copy_(kept)


def _checked(
    net: NeuMFNetwork,
    people: People,
    item_features: Tensor,
    validation: Validation,
    metric: str,
    model: Callable[[], NCFModel],
) -> dict[str, float]:
    """The head's held-out loss, and with a ranking `metric` the validation figures of the
    model ranking by the head alone."""
    figures = {_LOSS: _held_out_loss(net, people, item_features)}
    if metric != _LOSS:
        figures |= validation.evaluate(head_alone(model()))
    return figures


def _said(figures: dict[str, float], validation: Validation) -> str:
    said = f", held-out loss {figures[_LOSS]:.4f}"
    ranked = [name for name in figures if name != _LOSS]
    if ranked:
        said += ", validation " + " ".join(
            f"{validation.label(name)} {figures[name]:.4f}" for name in ranked
        )
    return said


def fit_head(
    net: NeuMFNetwork,
    train: TrainingSet,
    user_features: Tensor,
    item_features: Tensor,
    p: NCFParams,
    options: TrainingOptions,
    held_out: People | None,
    model: Callable[[], NCFModel],
    ranks: Ranks | None = None,
) -> HeadFit:
    """Fit the softmax head on every training pair, for `head_epochs` passes at most. With
    held-out people (and `options.validation`), it stops on `head_stop_metric` and keeps its
    best pass; `model` exports the network as it is, for a ranking stop metric. With
    `ranks`, the processes share every batch and the first one alone checks the held-out
    people."""
    ranks = ranks or Ranks()
    run = _HeadTraining(net, train, user_features, item_features, p, options, ranks)
    validation = options.validation if held_out is not None else None
    stopping: EarlyStopping[list[Tensor]] = EarlyStopping(
        p.head_stop_metric, p.patience, lower_is_better=p.head_stop_metric == _LOSS
    )
    # Progress counts the head's passes and the fused branches' as one run of epochs.
    planned = p.head_epochs + p.epochs
    curves: dict[str, list[float]] = {"head_loss": [], "head_epoch_s": []}
    for epoch in range(1, p.head_epochs + 1):
        began = time.perf_counter()
        curves["head_loss"].append(run.epoch())
        curves["head_epoch_s"].append(time.perf_counter() - began)
        message = f"softmax head, epoch {epoch}: loss {curves['head_loss'][-1]:.4f}"
        if validation is None or held_out is None:
            options.progress(epoch / planned, message)
            continue
        figures = ranks.decide(
            partial(_checked, net, held_out, item_features, validation, p.head_stop_metric, model)
        )
        for name, value in figures.items():
            key = "head_val_loss" if name == _LOSS else f"head_val_{validation.label(name)}"
            curves.setdefault(key, []).append(value)
        options.progress(epoch / planned, message + _said(figures, validation))
        if stopping.check(epoch, figures, run.state):
            break
    passes = len(curves["head_loss"])
    if stopping.best_state is None:
        return HeadFit(epochs=passes, run=passes, curves=curves)
    run.restore(stopping.best_state)
    return HeadFit(epochs=stopping.best_at, run=passes, curves=curves)


def choose_head_weight(model: NCFModel, validation: Validation, metric: str) -> tuple[float, str]:
    """The grid weight of the head whose sum with the fused score ranks the validation fold
    best (the smallest on ties), and a line saying how each did."""
    results = {}
    if validation.evaluate_blends is not None:
        # The fused score and the head's, each computed once for every weight: scoring the
        # fused branches for every validation user once per weight was nearly half of a fit
        # (docs/benchmarks.md, NCF's costs at 100,000 actions).
        model.head_weight = 0.0
        blended = validation.evaluate_blends(model, head_alone(model), HEAD_WEIGHTS)
        results = {w: figures[metric] for w, figures in zip(HEAD_WEIGHTS, blended, strict=True)}
    else:
        for weight in HEAD_WEIGHTS:
            model.head_weight = weight
            results[weight] = validation.evaluate(model)[metric]
    best = max(HEAD_WEIGHTS, key=lambda weight: results[weight])
    model.head_weight = best
    said = ", ".join(f"{weight:g}: {value:.4f}" for weight, value in results.items())
    return best, f"head weight {best:g} (validation {validation.label(metric)} {said})"
