"""Fitting the NCF engine: sampled negatives, Adam, early stopping on the validation fold."""

# Longer than 400 lines because the head is not split out yet (issue 15 does it).

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray
from pydantic import Field
from torch import Tensor

from recommender.arrays import IntArray
from recommender.engines.base import Engine, EngineParams, TrainingOptions, training_device
from recommender.engines.features import FeatureSpace, padded
from recommender.engines.lookup import positions as positions_of
from recommender.engines.lookup import user_share
from recommender.engines.ncf.model import NCFModel
from recommender.engines.ncf.network import NeuMFNetwork
from recommender.interactions import Interactions

if TYPE_CHECKING:
    from recommender.evaluation.protocols import Fold

log = logging.getLogger(__name__)

# Below this many positives a batch's gradient is mostly noise and per-step overhead.
_SMALLEST_BATCH = 64
# Logits of the softmax head held at once when measuring its held-out loss: rows x services.
_BATCH_LOGITS = 4_000_000
# Weights of the softmax head's score tried on the validation fold (0: the fused score alone).
_HEAD_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


class NCFParams(EngineParams):
    """Defaults follow the NCF paper where it gives them (4 negatives per positive, Adam,
    predictive factors 16-64) and were checked on MovieLens 1M validation folds."""

    gmf_factors: int = Field(default=64, ge=1, description="Length of the GMF id vectors.")
    mlp_factors: int = Field(default=32, ge=1, description="Length of the MLP id vectors.")
    mlp_layers: tuple[int, ...] = Field(
        default=(64, 32, 16), min_length=1, description="Widths of the MLP's hidden layers."
    )
    content_factors: int = Field(
        default=64, ge=1, description="Length of feature, history and content vectors."
    )
    history_length: int = Field(
        default=50, ge=0, description="Most recent services of a user the content tower reads."
    )
    history_samples: int = Field(
        default=20,
        ge=1,
        description="History services drawn per training pair (the model reads all of the "
        "recent ones when scoring).",
    )
    history_dropout: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of training pairs whose history the content tower does not see, so "
        "that it learns to score from declared interests alone (the idea of DropoutNet, "
        "Volkovs et al. 2017); 0.25 did not help newcomers on the synthetic marketplace "
        "before they had a head of their own (docs/benchmarks.md).",
    )
    negatives: int = Field(default=4, ge=1, description="Sampled negatives per positive.")
    pretrain: Literal["none", "ials"] = Field(
        default="ials",
        description="Start the GMF branch from implicit ALS factors (the NCF paper pre-trains "
        "GMF too; ALS does it in seconds) or from random vectors.",
    )
    loss: Literal["bce", "bpr"] = Field(
        default="bce", description="Pointwise log loss (NCF) or pairwise BPR loss."
    )
    content_weight: float = Field(
        default=0.5,
        ge=0,
        description="Weight of the loss of the content tower's history half on its own, which "
        "makes it a scorer by itself for visitors known only by what they used (in a model "
        "without the softmax head, which scores them otherwise).",
    )
    head_epochs: int = Field(
        default=20,
        ge=0,
        description="Passes that fit the softmax head (declared interests and recent services "
        "against every service) before the rest; the most, with validation, where it stops on "
        "the held-out services' loss. 0: no head; visitors without an id vector are scored by "
        "the content tower.",
    )
    head_learning_rate: float = Field(
        default=0.01, gt=0, description="Adam's step size while fitting the softmax head."
    )
    head_history_dropout: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the head's training pairs of people with declared interests "
        "whose history it does not see, so that it also learns to score newcomers, who have "
        "none.",
    )
    head_weight: float | None = Field(
        default=None,
        ge=0,
        description="Weight of the softmax head's score added to the fused score of people "
        "with an id vector. None: the best of a grid on the validation fold (its "
        "`stop_metric`), or 1 without one.",
    )
    epochs: int = Field(
        default=20, ge=1, description="Passes over the positives (the most, with validation)."
    )
    patience: int = Field(
        default=3, ge=1, description="Epochs without validation progress before stopping."
    )
    stop_metric: Literal["NDCG", "HR"] = Field(
        default="NDCG", description="Validation metric at 10 that early stopping follows."
    )
    batch_size: int = Field(default=1024, ge=1, description="Positives per gradient step.")
    min_steps_per_epoch: int = Field(
        default=50,
        ge=1,
        description="Gradient steps an epoch takes at least: small data sets get smaller "
        "batches (down to 64 positives) and, below that, several passes per epoch, so a "
        "marketplace with a few thousand usages does not learn from a handful of steps.",
    )
    learning_rate: float = Field(default=0.001, gt=0, description="Adam's step size.")
    content_learning_rate: float | None = Field(
        default=None,
        gt=0,
        description="Adam's step size for the content tower (None: `learning_rate`). Early "
        "stopping follows the id branches, which overfit a small marketplace within a few "
        "hundred steps, too few for the tower's embeddings to move at the same rate.",
    )
    l2: float = Field(default=1e-4, ge=0, description="L2 penalty on the embeddings a batch uses.")
    init_std: float = Field(
        default=0.01, gt=0, description="Spread of the initial id embeddings (GMF, MLP)."
    )
    content_init_std: float = Field(
        default=0.01, gt=0, description="Spread of the initial content-tower embeddings."
    )
    threads: int = Field(
        default=0, ge=0, description="PyTorch threads while training (0: PyTorch's default)."
    )


@dataclass(frozen=True, eq=False)
class _TrainingSet:
    """Everything an epoch draws from, in positions of the model's own users and items."""

    users: IntArray  # per positive
    items: IntArray
    weights: NDArray[np.float32]
    pair_keys: IntArray  # sorted user * n_items + item, to reject sampled positives
    histories: IntArray  # n_users x history_length, padded with n_items
    history_lengths: IntArray
    user_features: IntArray  # n_users x width, padded with the feature space's size
    item_features: IntArray  # n_items x width
    declares: NDArray[np.bool_]  # per user: declared an interest the feature space knows


def _histories(data: Interactions, active: IntArray, length: int) -> tuple[IntArray, IntArray]:
    out = np.full((active.shape[0], max(length, 1)), data.n_items, dtype=np.int64)
    lengths = np.zeros(active.shape[0], dtype=np.int64)
    if length == 0:
        return out, lengths
    for row, user in enumerate(active):
        recent = data.item_index(data.history(int(user)))[-length:]
        out[row, : recent.shape[0]] = recent
        lengths[row] = recent.shape[0]
    return out, lengths


def _training_set(
    data: Interactions, active: IntArray, space: FeatureSpace, length: int
) -> _TrainingSet:
    matrix = data.matrix[active].tocoo()
    users = np.asarray(matrix.row, dtype=np.int64)
    items = np.asarray(matrix.col, dtype=np.int64)
    weights = np.asarray(matrix.data, dtype=np.float32)
    weights = weights / weights.mean() if weights.shape[0] else weights
    histories, lengths = _histories(data, active, length)
    user_rows = space.rows(data.user_features, data.n_users)[active]
    item_rows = space.rows(data.item_features, data.n_items)
    return _TrainingSet(
        users=users,
        items=items,
        weights=weights.astype(np.float32),
        pair_keys=np.sort(users * data.n_items + items),
        histories=histories,
        history_lengths=lengths,
        user_features=padded(user_rows, space.size),
        item_features=padded(item_rows, space.size),
        declares=np.diff(user_rows.indptr) > 0,
    )


def _negatives(
    rng: np.random.Generator, train: _TrainingSet, users: IntArray, n_items: int, n: int
) -> IntArray:
    drawn = rng.integers(0, n_items, size=(users.shape[0], n), dtype=np.int64)
    # One redraw of negatives that are in fact used items; the rest are rare enough.
    keys = users[:, None] * n_items + drawn
    pos = np.minimum(np.searchsorted(train.pair_keys, keys), max(train.pair_keys.shape[0] - 1, 0))
    clash = train.pair_keys[pos] == keys if train.pair_keys.shape[0] else np.zeros_like(keys, bool)
    drawn[clash] = rng.integers(0, n_items, size=int(clash.sum()), dtype=np.int64)
    return drawn


def _history_sample(
    rng: np.random.Generator,
    train: _TrainingSet,
    users: IntArray,
    targets: IntArray,
    n: int,
    pad: int,
    dropout: float,
) -> IntArray:
    """Per pair, `n` services drawn from the user's recent history, the target itself left out
    (it would teach the model to find a service in its own history); a `dropout` share of the
    pairs get no history at all, as a newcomer has none."""
    lengths = train.history_lengths[users]
    slots = (rng.random((users.shape[0], n)) * np.maximum(lengths, 1)[:, None]).astype(np.int64)
    drawn = train.histories[users[:, None], slots]
    drawn[(drawn == targets[:, None]) | (lengths[:, None] == 0)] = pad
    drawn[rng.random(users.shape[0]) < dropout] = pad
    return drawn


def array(tensor: Tensor) -> NDArray[np.float32]:
    """A tensor as a contiguous float32 numpy array, for the serving model."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def _export(
    net: NeuMFNetwork,
    data: Interactions,
    active: IntArray,
    space: FeatureSpace,
    train: _TrainingSet,
    meta: dict[str, Any],
) -> NCFModel:
    with torch.no_grad():
        item_rows = space.rows(data.item_features, data.n_items)
        counts = np.asarray(item_rows.sum(axis=1)).ravel()
        mean_rows = sp.diags(1.0 / np.maximum(counts, 1.0)).astype(np.float32) @ item_rows
        feature = array(net.feature.weight)[: space.size]
        feature_bias = array(net.feature_bias.weight)[: space.size, 0]
        warm = np.zeros(data.n_items, dtype=bool)
        warm[train.items] = True
        factors = int(net.content_out.shape[0])
        item_vectors = (
            np.asarray(mean_rows @ feature, dtype=np.float32)
            if space.size
            else np.zeros((data.n_items, factors), dtype=np.float32)
        )
        item_vectors += warm[:, None] * array(net.item_content.weight)
        item_bias = (
            (np.asarray(mean_rows @ feature_bias, dtype=np.float32) if space.size else 0.0)
            + warm * array(net.item_bias.weight)[:, 0]
            + float(net.content_bias.item())
        )
        arrays: dict[str, NDArray[Any]] = {
            "user_ids": data.user_ids[active].copy(),
            "item_ids": data.item_ids.copy(),
            "user_gmf": array(net.user_gmf.weight * net.gmf_out),
            "item_gmf": array(net.item_gmf.weight),
            "user_mlp_in": array(net.mlp_user_in(net.user_mlp.weight)),
            "item_mlp_in": array(net.mlp_item_in(net.item_mlp.weight)),
            "mlp_out": array(net.mlp_out.weight[0]),
            "declared": array(net.declared.weight)[: space.size].reshape(space.size, factors),
            "history": array(net.history.weight)[: data.n_items],
            "item_vectors": np.ascontiguousarray(item_vectors, dtype=np.float32),
            "item_bias": np.asarray(item_bias, dtype=np.float32).reshape(data.n_items),
            "content_out": array(net.content_out),
            "warm": warm,
            "popularity": user_share(data.matrix),
            "item_features.indptr": item_rows.indptr.astype(np.int64),
            "item_features.indices": item_rows.indices.astype(np.int64),
        }
        for k, layer in enumerate(net.mlp_hidden):
            assert isinstance(layer, torch.nn.Linear)
            arrays[f"mlp.{k}.weight"] = array(layer.weight)
            arrays[f"mlp.{k}.bias"] = array(layer.bias)
        if meta.get("head"):
            arrays |= _head_arrays(net, space, mean_rows, warm)
    return NCFModel(arrays, space, {**meta, "mlp_hidden": len(net.mlp_hidden)})


def _head_arrays(
    net: NeuMFNetwork, space: FeatureSpace, mean_rows: sp.csr_matrix, warm: NDArray[np.bool_]
) -> dict[str, NDArray[Any]]:
    """The softmax head for serving. A service nobody used was only ever a negative in its
    softmax: it keeps its features' vector and the median bias, an average service's."""
    factors = int(net.head_item.weight.shape[1])
    if space.size:
        features = array(net.head_feature.weight)[: space.size]
        vectors = np.asarray(mean_rows @ features, dtype=np.float32)
    else:
        vectors = np.zeros((warm.shape[0], factors), dtype=np.float32)
    vectors += warm[:, None] * array(net.head_item.weight)
    bias = array(net.head_bias)
    bias = np.where(warm, bias, np.median(bias[warm]) if warm.any() else 0.0)
    return {
        "head_declared": array(net.head_declared.weight)[: space.size].reshape(space.size, factors),
        "head_history": array(net.head_history.weight)[: warm.shape[0]],
        "head_items": np.ascontiguousarray(vectors, dtype=np.float32),
        "head_bias": np.asarray(bias, dtype=np.float32),
    }


def _n_pairs(data: Interactions, active: IntArray) -> int:
    return int(data.matrix[active].nnz)


def _pretrain_gmf(
    net: NeuMFNetwork, data: Interactions, active: IntArray, factors: int, options: TrainingOptions
) -> None:
    """Copy implicit-ALS factors into the GMF embeddings, scaled so that the dot products of
    observed pairs start with a spread of a few logits."""
    from recommender.engines.ials import IALSEngine

    als = IALSEngine({"factors": factors}).fit(data, TrainingOptions(seed=options.seed))
    rows = positions_of(als.user_ids, data.user_ids[active])
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


@dataclass(frozen=True, eq=False)
class _People:
    """People as the softmax head reads them: declared interests (P, F) and recent services
    (P, H), both padded, with the service each one is to find and its weight."""

    features: Tensor
    history: Tensor
    targets: Tensor
    weights: Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def chunk(self, rows: Tensor | slice) -> _People:
        return _People(
            self.features[rows], self.history[rows], self.targets[rows], self.weights[rows]
        )


def _head_loss(net: NeuMFNetwork, people: _People, item_features: Tensor) -> Tensor:
    logits = net.head_logits(people.features, people.history, item_features)
    losses = torch.nn.functional.cross_entropy(logits, people.targets, reduction="none")
    return (losses * people.weights).mean()


def _held_out_people(
    data: Interactions, space: FeatureSpace, length: int, validation: Fold, device: torch.device
) -> _People | None:
    """The held-out services of the validation users, with those users' declared features
    and the recent services of their training part."""
    pairs = validation.heldout.relevant.tocoo()
    if pairs.nnz == 0:
        return None
    users = validation.heldout.users[pairs.row]
    rows = space.rows(data.user_features, data.n_users)[users]
    history, _ = _histories(data, users, length)

    def tensor(values: NDArray[Any]) -> Tensor:
        return torch.from_numpy(values).to(device)

    return _People(
        features=tensor(padded(rows, space.size)),
        history=tensor(history),
        targets=tensor(pairs.col.astype(np.int64)),
        weights=torch.ones(pairs.nnz, dtype=torch.float32, device=device),
    )


def _head_history(
    rng: np.random.Generator,
    train: _TrainingSet,
    users: IntArray,
    targets: IntArray,
    pad: int,
    dropout: float,
) -> IntArray:
    """Each pair's recent services without its target; a `dropout` share of the pairs of
    people with declared interests get none, as a newcomer has none."""
    history = train.histories[users].copy()
    history[history == targets[:, None]] = pad
    history[(rng.random(users.shape[0]) < dropout) & train.declares[users]] = pad
    return history


def _fit_head(
    net: NeuMFNetwork,
    train: _TrainingSet,
    user_features: Tensor,
    item_features: Tensor,
    p: NCFParams,
    options: TrainingOptions,
    device: torch.device,
    validation: _People | None,
) -> tuple[int, int, dict[str, list[float]]]:
    """Fit the softmax head on every training pair; returns the passes kept, the passes run
    and the curves of its loss (training, and held-out with validation). It stops on its own
    held-out loss: the collaborative branches, whose validation ranking stops the rest, overfit
    a small marketplace within an epoch or two, long before this head has learned anything."""
    head = net.head_parameters()
    optimiser = torch.optim.Adam(head, lr=p.head_learning_rate)
    # Its own random draws, so the rest of the fit draws the same with or without a head.
    rng = np.random.default_rng([options.seed, 1])
    # Progress counts the head's passes and the fused branches' as one run of epochs.
    planned = p.head_epochs + p.epochs
    n_pairs = train.users.shape[0]
    batch = min(p.batch_size, max(_SMALLEST_BATCH, -(-n_pairs // p.min_steps_per_epoch)))
    weights = torch.from_numpy(train.weights).to(device)
    best_loss, best_epoch, best_state = np.inf, 0, None
    curves: dict[str, list[float]] = {"head_loss": [], "head_epoch_s": []}
    if validation is not None:
        curves["head_val_loss"] = []
    for epoch in range(1, p.head_epochs + 1):
        began = time.perf_counter()
        order = rng.permutation(n_pairs)
        total, batches = 0.0, 0
        for start in range(0, n_pairs, batch):
            chosen = order[start : start + batch]
            users, items = train.users[chosen], train.items[chosen]
            history = _head_history(rng, train, users, items, net.n_items, p.head_history_dropout)
            people = _People(
                features=user_features[torch.from_numpy(users).to(device)],
                history=torch.from_numpy(history).to(device),
                targets=torch.from_numpy(items).to(device),
                weights=weights[torch.from_numpy(chosen).to(device)],
            )
            loss = _head_loss(net, people, item_features)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            total += float(loss.detach().item())
            batches += 1
        curves["head_loss"].append(total / max(batches, 1))
        curves["head_epoch_s"].append(time.perf_counter() - began)
        message = f"softmax head, epoch {epoch}: loss {curves['head_loss'][-1]:.4f}"
        if validation is None:
            options.progress(epoch / planned, message)
            continue
        held = _held_out_loss(net, validation, item_features)
        curves["head_val_loss"].append(held)
        options.progress(epoch / planned, f"{message}, held-out loss {held:.4f}")
        if held < best_loss:
            best_loss, best_epoch = held, epoch
            best_state = [tensor.detach().clone() for tensor in head]
        elif epoch - best_epoch >= p.patience:
            break
    run = len(curves["head_loss"])
    if best_state is None:
        return run, run, curves
    with torch.no_grad():
        for tensor, kept in zip(head, best_state, strict=True):
            tensor.copy_(kept)
    return best_epoch, run, curves


def _held_out_loss(net: NeuMFNetwork, people: _People, item_features: Tensor) -> float:
    """The head's mean loss over held-out people, in chunks of bounded logits."""
    step = max(1, _BATCH_LOGITS // max(net.n_items, 1))
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(people), step):
            part = people.chunk(slice(start, start + step))
            total += float(_head_loss(net, part, item_features).item()) * len(part)
    return total / max(len(people), 1)


def _choose_head_weight(model: NCFModel, validation: Fold, metric: str) -> tuple[float, str]:
    """The grid weight of the head whose sum with the fused score ranks the validation fold
    best (the smallest on ties), and a line saying how each did."""
    from recommender.evaluation.runner import evaluate_model

    results = {}
    for weight in _HEAD_WEIGHTS:
        model.head_weight = weight
        results[weight] = evaluate_model(model, validation, 10, (metric,)).metrics[f"{metric}@10"]
    best = max(_HEAD_WEIGHTS, key=lambda weight: results[weight])
    model.head_weight = best
    said = ", ".join(f"{weight:g}: {value:.4f}" for weight, value in results.items())
    return best, f"head weight {best:g} (validation {metric}@10 {said})"


class NCFEngine(Engine[NCFParams]):
    name = "ncf"
    params_type = NCFParams
    model_type = NCFModel
    uses_validation = True

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> NCFModel:
        options = options or TrainingOptions()
        previous = torch.get_num_threads()
        if self.params.threads:
            torch.set_num_threads(self.params.threads)
        try:
            return self._fit(data, options)
        finally:
            torch.set_num_threads(previous)

    def _fit(self, data: Interactions, options: TrainingOptions) -> NCFModel:
        # Imported here: evaluation imports the engine catalogue, which imports this module.
        from recommender.evaluation.runner import evaluate_model

        p = self.params
        device = training_device(options.device)
        rng = np.random.default_rng(options.seed)
        generator = torch.Generator().manual_seed(options.seed)
        active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
        space = FeatureSpace.of(
            data.feature_vocab, set(data.item_features) | set(data.user_features)
        )
        train = _training_set(data, active, space, p.history_length)
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
            generator=generator,
        ).to(device)
        if p.pretrain == "ials" and _n_pairs(data, active):
            _pretrain_gmf(net, data, active, p.gmf_factors, options)
        user_features = torch.from_numpy(train.user_features).to(device)
        item_features = torch.from_numpy(train.item_features).to(device)
        head_epochs, head_run, head_curves = 0, 0, dict[str, list[float]]()
        if p.head_epochs and train.users.shape[0]:
            held = (
                _held_out_people(data, space, p.history_length, options.validation, device)
                if options.validation is not None
                else None
            )
            head_epochs, head_run, head_curves = _fit_head(
                net, train, user_features, item_features, p, options, device, held
            )
        content = net.content_parameters()
        apart = {id(tensor) for tensor in (*net.head_parameters(), *content)}
        rest = [tensor for tensor in net.parameters() if id(tensor) not in apart]
        groups: list[dict[str, Any]] = [
            {"params": rest},
            {"params": content, "lr": p.content_learning_rate or p.learning_rate},
        ]
        optimiser = torch.optim.Adam(groups, lr=p.learning_rate)
        # While the fused branches train, validation ranks by their score alone.
        meta: dict[str, Any] = {
            "history_length": p.history_length,
            "head": head_epochs > 0,
            "head_weight": 0.0,
        }
        validation = options.validation
        # Seconds of each epoch's gradient steps (ranking the validation fold not included).
        curves: dict[str, list[float]] = {"loss": [], "epoch_s": []}
        if validation is not None:
            curves |= {"val_HR@10": [], "val_NDCG@10": []}
        curves |= head_curves
        best_score, best_epoch, best_state = -np.inf, 0, None
        n_pairs = train.users.shape[0]
        batch_size = max(
            min(_SMALLEST_BATCH, p.batch_size, n_pairs),
            min(p.batch_size, -(-n_pairs // p.min_steps_per_epoch)),
            1,
        )
        passes = -(-p.min_steps_per_epoch // max(1, -(-n_pairs // batch_size)))
        for epoch in range(1, p.epochs + 1 if n_pairs else 1):
            began = time.perf_counter()
            net.train()
            order = np.concatenate([rng.permutation(n_pairs) for _ in range(passes)])
            total, batches = 0.0, 0
            for start in range(0, order.shape[0], batch_size):
                chosen = order[start : start + batch_size]
                users, items = train.users[chosen], train.items[chosen]
                negatives = _negatives(rng, train, users, data.n_items, p.negatives)
                history = _history_sample(
                    rng, train, users, items, p.history_samples, data.n_items, p.history_dropout
                )
                loss = self._step(
                    net,
                    optimiser,
                    torch.from_numpy(users).to(device),
                    user_features[torch.from_numpy(users).to(device)],
                    torch.from_numpy(history).to(device),
                    torch.from_numpy(np.concatenate([items[:, None], negatives], axis=1)).to(
                        device
                    ),
                    item_features,
                    torch.from_numpy(train.weights[chosen]).to(device),
                )
                total += loss
                batches += 1
            curves["loss"].append(total / max(batches, 1))
            curves["epoch_s"].append(time.perf_counter() - began)
            message = f"epoch {epoch}: loss {curves['loss'][-1]:.4f}"
            if validation is not None:
                net.eval()
                model = _export(net, data, active, space, train, meta)
                result = evaluate_model(model, validation, 10, ("HR", "NDCG")).metrics
                curves["val_HR@10"].append(result["HR@10"])
                curves["val_NDCG@10"].append(result["NDCG@10"])
                score = result[f"{p.stop_metric}@10"]
                message += (
                    f", validation HR@10 {result['HR@10']:.4f} NDCG@10 {result['NDCG@10']:.4f}"
                )
                if score > best_score:
                    best_score, best_epoch = score, epoch
                    best_state = copy.deepcopy(net.state_dict())
                options.progress((head_run + epoch) / (head_run + p.epochs), message)
                if epoch - best_epoch >= p.patience:
                    break
            else:
                options.progress((head_run + epoch) / (head_run + p.epochs), message)
        fitted: dict[str, Any] = {}
        if best_state is not None:
            net.load_state_dict(best_state)
            fitted = {"epochs": best_epoch}
            if head_epochs:
                fitted["head_epochs"] = head_epochs
        net.eval()
        weight = p.head_weight
        if head_epochs and weight is None and validation is not None and n_pairs:
            candidate = _export(net, data, active, space, train, meta)
            weight, said = _choose_head_weight(candidate, validation, p.stop_metric)
            fitted["head_weight"] = weight
            log.info("ncf: %s", said)
            options.progress(1.0, said)
        meta["head_weight"] = 1.0 if weight is None else weight
        return _export(
            net, data, active, space, train, {**meta, "curves": curves, "fitted": fitted}
        )

    def _step(
        self,
        net: NeuMFNetwork,
        optimiser: torch.optim.Optimizer,
        users: Tensor,
        user_features: Tensor,
        history: Tensor,
        items: Tensor,
        item_features: Tensor,
        weights: Tensor,
    ) -> float:
        p = self.params
        fused, content = net(users, user_features, history, items, item_features[items])
        loss = _loss(fused, weights, p.loss) + p.content_weight * _loss(content, weights, p.loss)
        if p.l2 > 0:
            penalty = sum(
                table(index).pow(2).sum()
                for table, index in (
                    (net.user_gmf, users),
                    (net.user_mlp, users),
                    (net.item_gmf, items),
                    (net.item_mlp, items),
                    (net.item_content, items),
                )
            )
            loss = loss + p.l2 * penalty / users.shape[0]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        return float(loss.detach().item())


def _loss(logits: Tensor, weights: Tensor, kind: str) -> Tensor:
    """Column 0 of `logits` holds each positive, the other columns its sampled negatives."""
    if kind == "bpr":
        margin = logits[:, :1] - logits[:, 1:]
        per_positive = -torch.nn.functional.logsigmoid(margin).mean(dim=1)
        return (per_positive * weights).mean()
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    sample = torch.ones_like(logits)
    sample[:, 0] = weights
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (losses * sample).sum(dim=1).mean() / logits.shape[1]
