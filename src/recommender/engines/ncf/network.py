"""The NeuMF network with a content tower, in PyTorch: what training optimises.

    score(u, i) = GMF(u, i) + MLP(u, i) + content(u, i)

GMF and MLP read id embeddings (He et al., 2017); the content tower reads the multi-hot
features of both sides and the services the user engaged with:

    content(u, i) = <w, user_vector(u) * item_vector(i)> + item_bias(i) + b
    user_vector   = mean(declared-interest embeddings of u) + mean(history embeddings of u)
    item_vector   = mean(feature embeddings of i) + id vector of i (services seen in training)

The three branches add up as NeuMF's final layer over their concatenation would; the content
tower's history half is also trained on its own (an auxiliary loss), so it scores visitors
known only by what they used in a model without the head below. A user's declared domain and
a service's domain have separate embeddings: "people in physics use X" is not "X is about
physics" (tied, they cost users with a history a tenth of their hits on a small synthetic
marketplace).

Beside the fused score, a softmax head reads the same two things a person is known by,
declared interests and recently used services, against every service (the two-tower
retrieval model of Covington et al., 2016):

    head(u, i) = <mean(head embeddings of u's declared interests)
                  + mean(head embeddings of u's recent services),
                  mean(head embeddings of i's features) + head id vector of i> + head_bias(i)

fitted first and apart, as a softmax over the catalogue (what do people who declare these
interests and used these services use next?). It scores whoever has no id vector, and is
added to the fused score of everyone else with a weight chosen on the validation fold. Its
scores are log-probabilities (up to a per-user constant), on another scale than the fused
logits of a sampled-negatives loss: trained into one sum, or sharing parameters with the
content tower, they wrecked the collaborative branches within an epoch.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn


def masked_mean(vectors: Tensor, present: Tensor) -> Tensor:
    """Mean over the second-to-last axis of the rows where `present` holds (zeros if none)."""
    weights = present.to(vectors.dtype).unsqueeze(-1)
    return (vectors * weights).sum(dim=-2) / weights.sum(dim=-2).clamp(min=1.0)


class NeuMFNetwork(nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_features: int,
        gmf_factors: int,
        mlp_factors: int,
        mlp_layers: tuple[int, ...],
        content_factors: int,
        init_std: float,
        content_init_std: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.n_features = n_features
        self.user_gmf = nn.Embedding(n_users, gmf_factors)
        self.item_gmf = nn.Embedding(n_items, gmf_factors)
        self.gmf_out = nn.Parameter(torch.ones(gmf_factors))
        self.user_mlp = nn.Embedding(n_users, mlp_factors)
        self.item_mlp = nn.Embedding(n_items, mlp_factors)
        # The first MLP layer over [user; item] is split in its user and item halves, so
        # each half is computed once per user or item rather than once per pair.
        self.mlp_user_in = nn.Linear(mlp_factors, mlp_layers[0])
        self.mlp_item_in = nn.Linear(mlp_factors, mlp_layers[0], bias=False)
        self.mlp_hidden = nn.ModuleList(
            nn.Linear(width, following) for width, following in pairwise(mlp_layers)
        )
        self.mlp_out = nn.Linear(mlp_layers[-1], 1, bias=False)
        # Position `n_features` / `n_items` is padding: a zero vector that never learns.
        self.feature = nn.Embedding(n_features + 1, content_factors, padding_idx=n_features)
        self.feature_bias = nn.Embedding(n_features + 1, 1, padding_idx=n_features)
        self.declared = nn.Embedding(n_features + 1, content_factors, padding_idx=n_features)
        self.history = nn.Embedding(n_items + 1, content_factors, padding_idx=n_items)
        self.item_content = nn.Embedding(n_items, content_factors)
        self.item_bias = nn.Embedding(n_items, 1)
        self.content_out = nn.Parameter(torch.ones(content_factors))
        self.content_bias = nn.Parameter(torch.zeros(1))
        # The softmax head: its own two towers, the person against services.
        self.head_declared = nn.Embedding(n_features + 1, content_factors, padding_idx=n_features)
        self.head_history = nn.Embedding(n_items + 1, content_factors, padding_idx=n_items)
        self.head_feature = nn.Embedding(n_features + 1, content_factors, padding_idx=n_features)
        self.head_item = nn.Embedding(n_items, content_factors)
        self.head_bias = nn.Parameter(torch.zeros(n_items))
        self._initialise(init_std, content_init_std, generator)

    def _initialise(self, std: float, content_std: float, generator: torch.Generator) -> None:
        for table in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(table.weight, std=std, generator=generator)
        # The content tower's own scale: its score is a product of two means of these.
        for table in (self.feature, self.history, self.item_content):
            nn.init.normal_(table.weight, std=content_std, generator=generator)
        for table in (self.feature_bias, self.item_bias):
            nn.init.zeros_(table.weight)
        with torch.no_grad():
            self.feature.weight[self.n_features] = 0.0
            self.history.weight[self.n_items] = 0.0
        for layer in (self.mlp_user_in, self.mlp_item_in, *self.mlp_hidden, self.mlp_out):
            assert isinstance(layer, nn.Linear)
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        # Last, so the draws above are those of a network without them (same seeds, same
        # starting point on data sets without side features).
        for table in (self.declared, self.head_declared, self.head_feature):
            nn.init.normal_(table.weight, std=content_std, generator=generator)
            with torch.no_grad():
                table.weight[self.n_features] = 0.0
        nn.init.normal_(self.head_item.weight, std=content_std, generator=generator)
        nn.init.normal_(self.head_history.weight, std=content_std, generator=generator)
        with torch.no_grad():
            self.head_history.weight[self.n_items] = 0.0

    def user_parts(self, feature_rows: Tensor, history_rows: Tensor) -> tuple[Tensor, Tensor]:
        """(..., c) vectors of the declared interests and of the history; the user vector is
        their sum. From padded feature positions and padded history item positions."""
        declared = masked_mean(self.declared(feature_rows), feature_rows != self.n_features)
        engaged = masked_mean(self.history(history_rows), history_rows != self.n_items)
        return declared, engaged

    def item_vector(self, items: Tensor, feature_rows: Tensor) -> tuple[Tensor, Tensor]:
        """(..., c) content vectors and (...) biases of services seen in training."""
        present = feature_rows != self.n_features
        vector = masked_mean(self.feature(feature_rows), present) + self.item_content(items)
        bias = masked_mean(self.feature_bias(feature_rows), present)[..., 0]
        return vector, bias + self.item_bias(items)[..., 0]

    def content_parameters(self) -> list[Tensor]:
        return [
            self.feature.weight,
            self.feature_bias.weight,
            self.declared.weight,
            self.history.weight,
            self.item_content.weight,
            self.item_bias.weight,
            self.content_out,
            self.content_bias,
        ]

    def head_parameters(self) -> list[Tensor]:
        return [
            self.head_declared.weight,
            self.head_history.weight,
            self.head_feature.weight,
            self.head_item.weight,
            self.head_bias,
        ]

    def head_items(self, item_features: Tensor, items: Tensor | None = None) -> Tensor:
        """(n_items, c) service vectors of the softmax head, from every service's positions
        (n_items, G); with `items` (C,), the vectors of those services only, (C, c)."""
        if items is None:
            items = torch.arange(self.n_items, device=item_features.device)
        else:
            item_features = item_features[items]
        present = item_features != self.n_features
        own: Tensor = self.head_item(items)
        return masked_mean(self.head_feature(item_features), present) + own

    def head_users(self, user_features: Tensor, history: Tensor) -> Tensor:
        """(P, c) person vectors of the softmax head, from declared interests (P, F) and
        recent services (P, H), both padded."""
        declared = masked_mean(self.head_declared(user_features), user_features != self.n_features)
        return declared + masked_mean(self.head_history(history), history != self.n_items)

    def head_logits(
        self,
        user_features: Tensor,
        history: Tensor,
        item_features: Tensor,
        items: Tensor | None = None,
    ) -> Tensor:
        """(P, n_items) scores of every service for P people; with `items` (C,), of those
        services only, (P, C)."""
        users = self.head_users(user_features, history)
        bias = self.head_bias if items is None else self.head_bias[items]
        return users @ self.head_items(item_features, items).T + bias

    def forward(
        self,
        users: Tensor,
        user_features: Tensor,
        history: Tensor,
        items: Tensor,
        item_features: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Fused logits, and the content tower's logits from the history alone, of shape (P, M)
        for P users x their M items each.

        `users` (P,), `user_features` (P, F), `history` (P, H); `items` (P, M),
        `item_features` (P, M, G). The history-only logits are what the content tower gives
        a visitor known by what they used; trained on their own, the history half cannot
        learn merely to correct the declared half (it did: a visitor's history then pointed
        away from the services it was made of).
        """
        declared, engaged = self.user_parts(user_features, history)
        item_c, item_b = self.item_vector(items, item_features)

        def content_of(user_c: Tensor) -> Tensor:
            weighted = (user_c.unsqueeze(1) * self.content_out * item_c).sum(-1)
            return weighted + item_b + self.content_bias

        content = content_of(declared + engaged)
        gmf = ((self.user_gmf(users) * self.gmf_out).unsqueeze(1) * self.item_gmf(items)).sum(-1)
        hidden = torch.relu(
            self.mlp_user_in(self.user_mlp(users)).unsqueeze(1)
            + self.mlp_item_in(self.item_mlp(items))
        )
        for layer in self.mlp_hidden:
            hidden = torch.relu(layer(hidden))
        mlp = self.mlp_out(hidden)[..., 0]
        return gmf + mlp + content, content_of(engaged)
