"""The NCF engine's hyper-parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recommender.engines.base import EngineParams


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
        "`head_stop_metric`. 0: no head; visitors without an id vector are scored by "
        "the content tower.",
    )
    head_sample: int = Field(
        default=16_384,
        ge=0,
        description="In a catalogue of more services, each batch of the softmax head is "
        "normalised over the batch's own services and this many drawn at random, an unbiased "
        "estimate of the sum over every service; its cost then no longer grows with the "
        "catalogue. 0: always over every service. A sample of 4,096 of 10,000 services made "
        "the head's epochs 2.8 times faster and cost 0.005-0.009 of HR@10 (docs/benchmarks.md), "
        "so the exact softmax is kept wherever it is affordable.",
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
    head_stop_metric: Literal["loss", "NDCG", "HR"] = Field(
        default="loss",
        description="What stops the softmax head with validation: its loss on the held-out "
        "services, or a validation metric at 10 of its score alone (how it ranks for "
        "newcomers). The collaborative branches' ranking cannot stop it: they overfit a small "
        "marketplace within an epoch or two, long before the head has learned anything.",
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
