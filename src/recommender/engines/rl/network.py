"""The actor and the twin critics of the RL agent, in PyTorch.

Services are fixed unit vectors in an embedding space (from a collaborative model), so an
action is a direction in that space: the actor turns a state into a query vector, and the
served list is the top-K of the candidates by <service vector, query> + service bias. Any
catalogue size works, and a logged list is represented by the mean direction of its services.

    state = MLP([mean of history vectors; newest history vector;
                 mean of declared-feature vectors; context])
    context = mean vector of the candidates, or a learned "whole catalogue" vector
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recommender.engines.ncf.network import masked_mean


@dataclass(frozen=True, eq=False)
class State:
    """A batch of states as tensors: item and feature positions (padded), and the mean vector
    of each row's candidates with whether the row had any (none: the whole catalogue)."""

    history: Tensor  # (B, H), newest last
    features: Tensor  # (B, F)
    candidate_mean: Tensor  # (B, dim)
    limited: Tensor  # (B,) bool
    allowed: Tensor | None  # (B, n_items + 1) True where a service may be shown; None: all


class StateEncoder(nn.Module):
    def __init__(self, items: Tensor, n_features: int, hidden: int, layers: int) -> None:
        super().__init__()
        # The service vectors are shared and frozen: they define the action space.
        self.register_buffer("items", items)
        self.pad_item = items.shape[0] - 1
        self.pad_feature = n_features
        dim = items.shape[1]
        self.feature = nn.Embedding(n_features + 1, dim, padding_idx=n_features)
        self.catalogue = nn.Parameter(torch.zeros(dim))
        blocks: list[nn.Module] = []
        width = 4 * dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.mlp = nn.Sequential(*blocks)

    @property
    def vectors(self) -> Tensor:
        """The frozen service vectors, with the zero padding row last."""
        return self.get_buffer("items")

    def forward(self, state: State) -> Tensor:
        history, features = state.history, state.features
        items = self.vectors
        # The candidates' mean vector, or the learned "whole catalogue" vector without any.
        context = torch.where(
            state.limited.unsqueeze(1),
            state.candidate_mean,
            self.catalogue.expand_as(state.candidate_mean),
        )
        engaged = masked_mean(items[history], history != self.pad_item)
        newest = items[history[:, -1]]
        declared = masked_mean(self.feature(features), features != self.pad_feature)
        out: Tensor = self.mlp(torch.cat([engaged, newest, declared, context], dim=1))
        return out


class Actor(nn.Module):
    """State -> query vector; logits of every service are <service, query> + bias."""

    def __init__(self, items: Tensor, n_features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = StateEncoder(items, n_features, hidden, layers)
        self.head = nn.Linear(hidden, items.shape[1])
        self.bias = nn.Parameter(torch.zeros(items.shape[0]))
        # Service vectors are unit length: a learned scale lets the softmax over them become
        # as sharp as the data says, without the query having to grow long first.
        self.log_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, state: State) -> Tensor:
        out: Tensor = self.head(self.encoder(state))
        return out

    def logits(self, query: Tensor) -> Tensor:
        out: Tensor = self.log_scale.exp() * (query @ self.encoder.vectors.T) + self.bias
        return out


class Critic(nn.Module):
    """Q(state, action direction): the return expected after showing that list."""

    def __init__(self, items: Tensor, n_features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = StateEncoder(items, n_features, hidden, layers)
        dim = items.shape[1]
        self.q = nn.Sequential(nn.Linear(hidden + dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, state: State, action: Tensor) -> Tensor:
        encoded = self.encoder(state)
        out: Tensor = self.q(torch.cat([encoded, action], dim=1))[:, 0]
        return out


def direction(vectors: Tensor) -> Tensor:
    """Unit vectors (a zero vector stays zero)."""
    out: Tensor = vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    return out
