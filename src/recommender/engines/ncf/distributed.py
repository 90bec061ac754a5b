"""NCF across processes: PyTorch's DistributedDataParallel over the process group a launcher
(`torchrun`) set up, or one process alone when there is none.

Every process draws the same global batch from the same seeded generator and trains on its
own contiguous share of it; DDP averages the gradients, and each share's loss is scaled by its
size so that the average is the loss of the whole batch. The processes thus take the steps one
process would take with the same seed, up to the order of floating-point sums. The first
process alone ranks the validation fold; what it measured is sent to the others, which then
take the same early-stopping decisions on their own (identical) weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn

from recommender.engines.ncf.network import NeuMFNetwork

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place among those that train one model together."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Ranks:
        """The process group a launcher initialised, or this process alone."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return cls()
        return cls(torch.distributed.get_rank(), torch.distributed.get_world_size())

    @property
    def alone(self) -> bool:
        return self.world == 1

    def share(self, size: int) -> slice:
        """This process's contiguous part of a global batch of `size` rows; the parts of all
        processes cover it exactly once (a part may be empty when `size` < `world`)."""
        return slice(size * self.rank // self.world, size * (self.rank + 1) // self.world)

    def weight(self, size: int) -> float:
        """What this process's mean loss over its part counts for, so that DDP's average of
        the gradients is the gradient of the whole batch's mean loss."""
        rows = size * (self.rank + 1) // self.world - size * self.rank // self.world
        return rows * self.world / max(size, 1)

    def decide(self, measure: Callable[[], T]) -> T:
        """`measure()` run by the first process alone, its result given to every process."""
        if self.alone:
            return measure()
        box: list[T | None] = [measure() if self.rank == 0 else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    def mean(self, value: float) -> float:
        """The mean of a per-process figure over the processes (a loss to record)."""
        if self.alone:
            return value
        total = torch.tensor([value], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            total = total.cuda()
        torch.distributed.all_reduce(total)
        return float(total.item()) / self.world

    def wrap(self, objective: nn.Module) -> nn.Module:
        """The objective whose backward pass averages gradients over the processes; the first
        process's parameters are copied to the others as it is built."""
        if self.alone:
            return objective
        return nn.parallel.DistributedDataParallel(objective)


class Objective(nn.Module):
    """A loss over some of the network's parameters. DDP averages the gradients of the
    parameters its module owns, and the head and the fused branches are fitted apart, so each
    gets a module that owns its own parameters and reads the network it came from."""

    net: NeuMFNetwork

    def __init__(self, net: NeuMFNetwork, parameters: Sequence[Tensor]) -> None:
        super().__init__()
        # Not a submodule: DDP would then average (and copy) every parameter of the network.
        object.__setattr__(self, "net", net)
        for n, tensor in enumerate(parameters):
            assert isinstance(tensor, nn.Parameter)
            self.register_parameter(f"p{n}", tensor)


def head_parameters(net: NeuMFNetwork) -> list[Tensor]:
    return net.head_parameters()


def fused_parameters(net: NeuMFNetwork) -> list[Tensor]:
    """Every parameter but the softmax head's."""
    apart = {id(tensor) for tensor in net.head_parameters()}
    return [tensor for tensor in net.parameters() if id(tensor) not in apart]
