"""From NCF's PyTorch network to the numpy model that serves: every table that depends on
one side only is computed here, once."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray
from torch import Tensor

from recommender.arrays import IntArray
from recommender.engines.features import FeatureSpace
from recommender.engines.lookup import user_share
from recommender.engines.ncf.model import NCFModel
from recommender.engines.ncf.network import NeuMFNetwork
from recommender.engines.ncf.sampling import TrainingSet
from recommender.interactions import Interactions


def array(tensor: Tensor) -> NDArray[np.float32]:
    """A tensor as a contiguous float32 numpy array, for the serving model."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def export(
    net: NeuMFNetwork,
    data: Interactions,
    active: IntArray,
    space: FeatureSpace,
    train: TrainingSet,
    meta: dict[str, Any],
) -> NCFModel:
    """The serving model of the network as it is now (the services a training pair used are
    the warm ones)."""
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
