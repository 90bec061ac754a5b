from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.engines.base import Query, TrainingOptions
from recommender.engines.ncf import NCFEngine, NCFModel
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import evaluate_model, validation_on
from recommender.interactions import Interactions
from tests.engines.contract import PersonalisedEngineContract, checkerboard

if TYPE_CHECKING:
    import torch

    from recommender.engines.ncf.network import NeuMFNetwork

SMALL: dict[str, Any] = {
    "gmf_factors": 8,
    "mlp_factors": 8,
    "mlp_layers": [16, 8],
    "content_factors": 8,
    "epochs": 30,
    "batch_size": 32,
    "min_steps_per_epoch": 5,
    "learning_rate": 0.02,
    # Twelve items: without a firm penalty the id vectors learn the sampled negatives by heart.
    "l2": 0.01,
}

BIOLOGY, PHYSICS = 1, 2


class TestNCFContract(PersonalisedEngineContract):
    engine_name = "ncf"
    params = SMALL


class Names:
    def service(self, service_id: int) -> str | None:
        return f"service {service_id}"

    def scientific_domain(self, domain_id: int) -> str | None:
        return {BIOLOGY: "Biology", PHYSICS: "Physics"}.get(domain_id)

    def category(self, category_id: int) -> str | None:
        return None


def communities(n_users: int = 40, cold_service: bool = True) -> Interactions:
    """Biologists (odd ids) use services 10-14, physicists (even ids) 20-24; service 15 is a
    biology service nobody used yet, 25 a physics one."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for user in range(1, n_users + 1):
        block = 10 if user % 2 else 20
        for item in rng.choice(5, size=3, replace=False):
            users.append(user)
            items.append(block + int(item))
    item_ids = np.array([10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25])
    if not cold_service:
        item_ids = item_ids[item_ids % 10 != 5]
    user_ids = np.arange(1, n_users + 1)
    user_domains = sp.csr_matrix(
        (np.ones(n_users), (np.arange(n_users), (user_ids % 2 == 0).astype(int))),
        shape=(n_users, 2),
    )
    item_domains = sp.csr_matrix(
        (np.ones(item_ids.shape[0]), (np.arange(item_ids.shape[0]), (item_ids >= 20).astype(int))),
        shape=(item_ids.shape[0], 2),
    )
    return Interactions.from_events(
        users,
        items,
        timestamps=np.arange(len(users), dtype=float),
        user_ids=user_ids,
        item_ids=item_ids,
        user_features={"scientific_domains": user_domains},
        item_features={"scientific_domains": item_domains},
        feature_vocab={"scientific_domains": np.array([BIOLOGY, PHYSICS])},
    )


@pytest.fixture(scope="module")
def trained() -> tuple[NCFModel, Interactions]:
    data = communities()
    return NCFEngine(SMALL).fit(data, TrainingOptions(seed=0)), data


def test_a_tiny_data_set_is_learned_by_heart() -> None:
    # Ten users, each with one service of its own: nothing to generalise, everything to fit.
    ids = np.arange(10)
    data = Interactions.from_events(ids, ids + 100)
    model = NCFEngine({**SMALL, "epochs": 150, "history_length": 0}).fit(
        data, TrainingOptions(seed=1)
    )
    scores = model.score_batch([Query(user_id=int(u)) for u in ids], data.item_ids)
    assert (data.item_ids[np.argmax(scores, axis=1)] == ids + 100).all()


def test_a_new_user_is_scored_from_declared_interests(
    trained: tuple[NCFModel, Interactions],
) -> None:
    model, data = trained
    newcomer = Query(user_id=9_999, scientific_domains=(BIOLOGY,))
    assert model.knows(newcomer)
    scores = dict(zip(data.item_ids.tolist(), model.score(newcomer, data.item_ids), strict=True))
    biology = [scores[s] for s in (10, 11, 12, 13, 14, 15)]
    physics = [scores[s] for s in (20, 21, 22, 23, 24, 25)]
    assert min(biology) > max(physics)


def test_a_service_nobody_used_is_scored_by_its_features(
    trained: tuple[NCFModel, Interactions],
) -> None:
    model, data = trained
    biologist = Query(user_id=1, history=data.history(0), scientific_domains=(BIOLOGY,))
    scores = dict(zip(data.item_ids.tolist(), model.score(biologist, data.item_ids), strict=True))
    assert np.isfinite(scores[15])
    assert scores[15] > max(scores[s] for s in (20, 21, 22, 23, 24, 25))


def test_a_visitor_known_only_by_history_is_scored_through_it(
    trained: tuple[NCFModel, Interactions],
) -> None:
    model, data = trained
    visitor = Query(history=np.array([20, 21], dtype=np.int64))
    assert model.knows(visitor)
    scores = dict(zip(data.item_ids.tolist(), model.score(visitor, data.item_ids), strict=True))
    assert min(scores[s] for s in (22, 23, 24)) > max(scores[s] for s in (11, 12, 13, 14))


def test_someone_it_knows_nothing_about_is_left_to_popularity(
    trained: tuple[NCFModel, Interactions],
) -> None:
    model, _ = trained
    assert not model.knows(Query())
    assert not model.knows(Query(user_id=9_999, scientific_domains=(777,)))


def test_explanations_name_the_shared_domain(trained: tuple[NCFModel, Interactions]) -> None:
    model, _ = trained
    newcomer = Query(user_id=9_999, scientific_domains=(BIOLOGY,))
    [explanation] = model.explain(newcomer, np.array([11]), Names())
    assert explanation.short == "Matches your interest in Biology"
    visitor = Query(history=np.array([20], dtype=np.int64))
    [explanation] = model.explain(visitor, np.array([22]), Names())
    assert explanation.short == "Because you used service 20"
    # Of a biology and a physics service used, a physics one is explained by the physics one.
    visitor = Query(history=np.array([11, 20], dtype=np.int64))
    explanations = model.explain(visitor, np.array([22, 12]), Names())
    assert [e.short for e in explanations] == [
        "Because you used service 20",
        "Because you used service 11",
    ]


def test_early_stopping_follows_the_validation_fold() -> None:
    split = temporal_loo(from_interactions(communities(n_users=60), "communities"), seed=0)
    validation = split.validation
    model = NCFEngine({**SMALL, "epochs": 30, "patience": 2}).fit(
        validation.train, TrainingOptions(seed=0, validation=validation_on(validation))
    )
    curves = model.curves
    assert len(curves["loss"]) == len(curves["val_NDCG@10"]) == len(curves["epoch_s"]) <= 30
    assert min(curves["epoch_s"]) > 0 and len(curves["head_epoch_s"]) == len(curves["head_loss"])
    best = int(np.argmax(curves["val_NDCG@10"])) + 1
    assert model.fitted_params["epochs"] == best
    # It stopped `patience` epochs after the best one, or ran to the end.
    assert len(curves["loss"]) in (best + 2, 30)
    # The softmax head stopped on its own held-out loss.
    head = curves["head_val_loss"]
    assert model.fitted_params["head_epochs"] == int(np.argmin(head)) + 1


def test_the_head_can_stop_on_how_it_ranks_alone() -> None:
    validation = temporal_loo(
        from_interactions(communities(n_users=60), "communities"), seed=0
    ).validation
    model = NCFEngine({**SMALL, "head_stop_metric": "HR", "patience": 2}).fit(
        validation.train, TrainingOptions(seed=0, validation=validation_on(validation))
    )
    ranked = model.curves["head_val_HR@10"]
    assert len(ranked) == len(model.curves["head_loss"]) == len(model.curves["head_val_loss"])
    assert model.fitted_params["head_epochs"] == int(np.argmax(ranked)) + 1


def test_the_head_weight_is_the_one_that_ranks_the_validation_fold_best() -> None:
    from recommender.engines.ncf.head import HEAD_WEIGHTS

    split = temporal_loo(from_interactions(communities(n_users=60), "communities"), seed=0)
    validation = split.validation
    model = NCFEngine(SMALL).fit(
        validation.train, TrainingOptions(seed=0, validation=validation_on(validation))
    )
    chosen = model.fitted_params["head_weight"]
    assert model.head_weight == chosen
    ndcg = {}
    for weight in HEAD_WEIGHTS:
        model.head_weight = weight
        ndcg[weight] = evaluate_model(model, validation, 10, ("NDCG",)).metrics["NDCG@10"]
    assert ndcg[chosen] == max(ndcg.values())
    # A refit with the chosen parameters serves that weight, with no validation to ask.
    refit = NCFEngine({**SMALL, **model.fitted_params}).fit(validation.train)
    assert refit.head_weight == chosen
    assert NCFModel.from_artifact(refit.to_artifact()).head_weight == chosen


def test_training_loss_goes_down(trained: tuple[NCFModel, Interactions]) -> None:
    model, _ = trained
    # The network's objective, and that of the softmax head, which is fitted first, alone.
    loss, head = model.curves["loss"], model.curves["head_loss"]
    assert loss[-1] < 0.7 * loss[0]
    assert head[-1] < 0.7 * head[0]


def test_pairwise_loss_learns_too() -> None:
    data, held_out = checkerboard()
    model = NCFEngine({**SMALL, "loss": "bpr"}).fit(data, TrainingOptions(seed=0))
    wins = 0
    for user, item in held_out.items():
        row = int(data.user_index([user])[0])
        scores = model.score(Query(user_id=user, history=data.history(row)), data.item_ids)
        same = (data.item_ids >= 106) == (item >= 106)
        wins += int(scores[data.item_index([item])[0]] > np.max(scores[~same]))
    assert wins >= 0.9 * len(held_out)


def test_an_absent_gpu_falls_back_to_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: nothing to fall back from")
    data, _ = checkerboard()
    with caplog.at_level(logging.WARNING):
        model = NCFEngine({**SMALL, "epochs": 1}).fit(data, TrainingOptions(device="cuda"))
    assert "no CUDA device" in caplog.text
    assert np.isfinite(model.score(Query(user_id=1), data.item_ids)).all()


def random_network(data: Interactions, n_features: int, generator: torch.Generator) -> NeuMFNetwork:
    """A small untrained network with weights wide enough that every branch counts."""
    from recommender.engines.ncf.network import NeuMFNetwork

    return NeuMFNetwork(
        n_users=data.n_users,
        n_items=data.n_items,
        n_features=n_features,
        gmf_factors=4,
        mlp_factors=4,
        mlp_layers=(8, 4),
        content_factors=4,
        init_std=0.5,
        content_init_std=0.5,
        generator=generator,
    ).eval()


def test_serving_scores_what_the_network_computes() -> None:
    """The numpy model (GMF, MLP and content tower) gives the trained network's logits for a
    user and the services in its training data (services nobody used keep only their
    feature-based terms, on purpose)."""
    import torch

    from recommender.engines.features import FeatureSpace, padded
    from recommender.engines.ncf.export import export
    from recommender.engines.ncf.sampling import training_set

    data = communities()
    space = FeatureSpace.of(data.feature_vocab, ["scientific_domains"])
    active = np.arange(data.n_users)
    train = training_set(data, active, space, length=0)
    generator = torch.Generator().manual_seed(3)
    net = random_network(data, space.size, generator)
    with torch.no_grad():
        net.item_bias.weight.normal_(generator=generator)
    model = export(net, data, active, space, train, {"history_length": 0})

    user = 4  # an even id: a physicist
    row = int(np.flatnonzero(data.user_ids == user)[0])
    items = torch.arange(data.n_items)[None, :]
    with torch.no_grad():
        fused, _ = net(
            torch.tensor([row]),
            torch.from_numpy(padded(space.rows(data.user_features, data.n_users), space.size))[
                [row]
            ],
            torch.full((1, 1), data.n_items),
            items,
            torch.from_numpy(train.item_features)[items],
        )
    served = model.score(Query(user_id=user, scientific_domains=(PHYSICS,)), data.item_ids)
    used = model.warm
    assert used.sum() == 10
    np.testing.assert_allclose(served[used], fused[0].numpy()[used], rtol=1e-4, atol=1e-4)


def test_a_faster_content_rate_teaches_the_history_half_sooner() -> None:
    data = communities()
    visitor = Query(history=np.array([20, 21], dtype=np.int64))

    def gap(params: dict[str, Any]) -> float:
        # Without a softmax head, a visitor known by history is scored by the content tower.
        model = NCFEngine(
            {**SMALL, "epochs": 2, "learning_rate": 0.002, "head_epochs": 0, **params}
        ).fit(data, TrainingOptions(seed=0))
        scores = dict(zip(data.item_ids.tolist(), model.score(visitor, data.item_ids), strict=True))
        return float(
            np.mean([scores[s] for s in (22, 23, 24)])
            - np.mean([scores[s] for s in (11, 12, 13, 14)])
        )

    assert gap({"content_learning_rate": 0.02}) > gap({}) + 0.1


def test_serving_adds_the_weighted_head_to_what_the_network_computes() -> None:
    """Someone without an id vector gets the head's logits; a user with one gets the fused
    logits plus the head's, weighted."""
    import torch

    from recommender.engines.features import FeatureSpace, padded
    from recommender.engines.ncf.export import export
    from recommender.engines.ncf.sampling import training_set

    data = communities(cold_service=False)
    space = FeatureSpace.of(data.feature_vocab, ["scientific_domains"])
    active = np.arange(data.n_users)
    train = training_set(data, active, space, length=2)
    generator = torch.Generator().manual_seed(5)
    net = random_network(data, space.size, generator)
    with torch.no_grad():
        net.head_bias.normal_(generator=generator)
    meta = {"history_length": 2, "head": True, "head_weight": 0.5}
    model = export(net, data, active, space, train, meta)

    user, used = 4, np.array([20, 21])  # a physicist and two physics services
    row = int(np.flatnonzero(data.user_ids == user)[0])
    features = torch.from_numpy(padded(space.rows(data.user_features, data.n_users), space.size))
    history = torch.from_numpy(data.item_index(used))[None, :]
    items = torch.arange(data.n_items)[None, :]
    with torch.no_grad():
        head = net.head_logits(features[[row]], history, torch.from_numpy(train.item_features))
        fused, _ = net(
            torch.tensor([row]),
            features[[row]],
            history,
            items,
            torch.from_numpy(train.item_features)[items],
        )
    visitor = Query(history=used, scientific_domains=(PHYSICS,))
    np.testing.assert_allclose(
        model.score(visitor, data.item_ids), head[0].numpy(), rtol=1e-4, atol=1e-4
    )
    known = Query(user_id=user, history=used, scientific_domains=(PHYSICS,))
    np.testing.assert_allclose(
        model.score(known, data.item_ids),
        (fused + 0.5 * head)[0].numpy(),
        rtol=1e-4,
        atol=1e-4,
    )


def test_progress_counts_the_head_and_the_fused_epochs_and_only_goes_forward() -> None:
    seen: list[tuple[float, str]] = []
    options = TrainingOptions(seed=0, progress=lambda fraction, said: seen.append((fraction, said)))
    NCFEngine({**SMALL, "epochs": 3, "head_epochs": 2}).fit(communities(), options)
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert [said.split(":")[0] for _, said in seen] == [
        "softmax head, epoch 1",
        "softmax head, epoch 2",
        "epoch 1",
        "epoch 2",
        "epoch 3",
    ]


def test_the_head_samples_each_batch_s_normaliser_without_losing_its_targets() -> None:
    from recommender.engines.ncf.head import sampled_candidates

    rng = np.random.default_rng(0)
    targets = np.array([7, 3, 7, 90], dtype=np.int64)
    items, log_inclusion = sampled_candidates(rng, targets, n_items=100, size=10)
    assert set(targets.tolist()) <= set(items.tolist())
    assert (np.diff(items) > 0).all() and 10 <= items.shape[0] <= 13
    is_target = np.isin(items, targets)
    assert (log_inclusion[is_target] == 0).all()
    np.testing.assert_allclose(log_inclusion[~is_target], np.log(0.1), rtol=1e-6)
    # The candidates' exponentiated logits, each divided by its chance of being drawn, sum
    # on average to the sum over the whole catalogue.
    logits = np.random.default_rng(1).normal(scale=2.0, size=100)
    estimates = []
    for _ in range(4000):
        items, log_inclusion = sampled_candidates(rng, targets, n_items=100, size=10)
        estimates.append(np.exp(logits[items] - log_inclusion).sum())
    assert np.mean(estimates) == pytest.approx(np.exp(logits).sum(), rel=0.03)


def test_a_head_sample_of_the_whole_catalogue_is_the_full_softmax() -> None:
    import torch

    from recommender.engines.features import FeatureSpace, padded
    from recommender.engines.ncf.head import Candidates, People, head_loss, sampled_candidates
    from recommender.engines.ncf.sampling import training_set

    data = communities(cold_service=False)
    space = FeatureSpace.of(data.feature_vocab, ["scientific_domains"])
    train = training_set(data, np.arange(data.n_users), space, length=2)
    net = random_network(data, space.size, torch.Generator().manual_seed(3))
    rows = np.arange(6)
    people = People(
        features=torch.from_numpy(padded(space.rows(data.user_features, data.n_users), space.size))[
            rows
        ],
        history=torch.full((6, 2), data.n_items, dtype=torch.int64),
        targets=torch.from_numpy(train.items[:6].astype(np.int64)),
        weights=torch.ones(6),
    )
    item_features = torch.from_numpy(train.item_features)
    items, log_inclusion = sampled_candidates(
        np.random.default_rng(0), train.items[:6].astype(np.int64), data.n_items, data.n_items
    )
    among = Candidates(torch.from_numpy(items), torch.from_numpy(log_inclusion))
    with torch.no_grad():
        full = head_loss(net, people, item_features)
        sampled = head_loss(net, people, item_features, among)
    assert float(sampled) == pytest.approx(float(full), rel=1e-5)


def test_a_head_fitted_on_samples_of_a_larger_catalogue_still_learns_the_communities() -> None:
    # Ten services in the catalogue, three drawn beside each batch's own.
    model = NCFEngine({**SMALL, "head_sample": 3, "head_epochs": 30, "epochs": 1}).fit(
        communities(cold_service=False), TrainingOptions(seed=0)
    )
    biologist = Query(user_id=9_999, scientific_domains=(BIOLOGY,))
    ids = np.array([10, 11, 12, 13, 14, 20, 21, 22, 23, 24])
    scores = dict(zip(ids.tolist(), model.score(biologist, ids), strict=True))
    assert min(scores[s] for s in (10, 11, 12, 13, 14)) > max(
        scores[s] for s in (20, 21, 22, 23, 24)
    )
