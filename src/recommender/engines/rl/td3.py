"""TD3 with a behaviour-cloning term (Fujimoto and Gu, 2021) for list-wise recommendation.

Twin critics learn Q(state, list direction) from rewards with a discount below one and
terminal flags; their targets come from target networks (Polyak-averaged copies), with
clipped noise on the target action (target policy smoothing); the actor is updated every
`policy_delay` critic steps, to maximise Q while staying near what the log shows users
engaging with: the behaviour term is the reward-weighted cross-entropy of the logged services
among the candidates, so the actor does not chase lists the log never showed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recommender.engines.rl.network import Actor, Critic, State, direction


@dataclass(frozen=True)
class TD3Settings:
    gamma: float
    tau: float
    policy_noise: float
    noise_clip: float
    policy_delay: int
    alpha: float
    actor_learning_rate: float
    critic_learning_rate: float


@dataclass(frozen=True, eq=False)
class Batch:
    """Tensors of one update: state, list, rewards, next state, done."""

    state: State
    actions: Tensor  # (B, K) positions, padding = n_items
    rewards: Tensor  # (B, K)
    next_state: State
    done: Tensor  # (B,) float, 1 where the episode ended
    panel: Tensor  # (B,) bool, True where the list was a panel the visitor saw


def list_direction(items: Tensor, actions: Tensor, pad: int) -> Tensor:
    """The direction standing for a served list: the mean of its services' vectors."""
    present = (actions != pad).to(items.dtype).unsqueeze(-1)
    return direction((items[actions] * present).sum(dim=1))


def _polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(1.0 - tau).add_(o, alpha=tau)


class TD3Learner:
    def __init__(self, actor: Actor, critics: tuple[Critic, Critic], settings: TD3Settings) -> None:
        self.actor = actor
        self.critics = critics
        self.settings = settings
        self.actor_target = copy.deepcopy(actor)
        self.critic_targets = (copy.deepcopy(critics[0]), copy.deepcopy(critics[1]))
        for frozen in (self.actor_target, *self.critic_targets):
            frozen.requires_grad_(False)
        self.actor_optimiser = torch.optim.Adam(actor.parameters(), lr=settings.actor_learning_rate)
        self.critic_optimiser = torch.optim.Adam(
            [*critics[0].parameters(), *critics[1].parameters()], lr=settings.critic_learning_rate
        )
        self.updates = 0
        self.pad = actor.encoder.pad_item

    def target_value(self, batch: Batch, generator: torch.Generator) -> Tensor:
        s = self.settings
        with torch.no_grad():
            query = self.actor_target(batch.next_state)
            noise = torch.randn(query.shape, generator=generator, device=query.device)
            noise = (noise * s.policy_noise).clamp(-s.noise_clip, s.noise_clip)
            action = direction(direction(query) + noise)
            q = torch.minimum(*(critic(batch.next_state, action) for critic in self.critic_targets))
            reward = batch.rewards.sum(dim=1)
            return reward + s.gamma * (1.0 - batch.done) * q

    def update(self, batch: Batch, generator: torch.Generator) -> dict[str, float]:
        s = self.settings
        target = self.target_value(batch, generator)
        items = self.actor.encoder.vectors
        logged = list_direction(items, batch.actions, self.pad)
        first, second = (critic(batch.state, logged) for critic in self.critics)
        critic_loss = nn.functional.mse_loss(first, target) + nn.functional.mse_loss(second, target)
        self.critic_optimiser.zero_grad(set_to_none=True)
        critic_loss.backward()  # type: ignore[no-untyped-call]
        self.critic_optimiser.step()
        self.updates += 1
        losses = {"critic": float(critic_loss.detach())}
        if self.updates % s.policy_delay == 0:
            losses |= self._update_actor(batch)
            _polyak(self.actor_target, self.actor, s.tau)
            for target_net, online in zip(self.critic_targets, self.critics, strict=True):
                _polyak(target_net, online, s.tau)
        return losses

    def _update_actor(self, batch: Batch) -> dict[str, float]:
        query = self.actor(batch.state)
        q = self.critics[0](batch.state, direction(query))
        # TD3+BC's normalisation: the Q term's scale does not depend on the reward's.
        weight = self.settings.alpha / q.abs().mean().detach().clamp(min=1e-6)
        imitation = behaviour_loss(self.actor.logits(query), batch, self.pad)
        loss: Tensor = -weight * q.mean() + imitation
        self.actor_optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.actor_optimiser.step()
        return {"actor_q": float(q.mean().detach()), "imitation": float(imitation.detach())}


def behaviour_loss(logits: Tensor, batch: Batch, pad: int) -> Tensor:
    """Reward-weighted cross-entropy of the services users engaged with: a panel's among the
    services it showed (what was never shown says nothing), a use among the candidates."""
    if batch.state.allowed is not None:
        logits = logits.masked_fill(~batch.state.allowed, float("-inf"))
    shown_mask = torch.zeros_like(logits, dtype=torch.bool)
    shown_mask.scatter_(1, batch.actions, True)
    logits = torch.where(batch.panel.unsqueeze(1) & ~shown_mask, float("-inf"), logits)
    # The last column is the padding position, never a service.
    logits = torch.cat([logits[:, :pad], torch.full_like(logits[:, pad:], float("-inf"))], dim=1)
    log_p = torch.log_softmax(logits, dim=1)
    shown = batch.actions != pad
    weights = torch.where(shown, batch.rewards.clamp(min=0.0), torch.zeros_like(batch.rewards))
    picked = torch.gather(log_p, 1, torch.where(shown, batch.actions, 0))
    picked = torch.where(weights > 0, picked, torch.zeros_like(picked))
    total = weights.sum().clamp(min=1e-6)
    return -(weights * picked).sum() / total
