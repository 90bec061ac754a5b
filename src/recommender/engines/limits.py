"""What an engine declares it can fit: item and user limits, and its memory per item and user."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


class EngineLimitError(ValueError):
    """The data is larger than an engine declares it can fit; nothing was fitted."""

    def __init__(self, engine: str, message: str) -> None:
        super().__init__(message)
        self.engine = engine


@dataclass(frozen=True)
class EngineLimits:
    """An engine's declared limits (None: none) and its estimated peak fitting memory,
    `bytes_per_user * users + bytes_per_item * items + bytes_per_item_pair * items^2`.

    The memory figures are estimates for capacity planning (docs/scaling.md); only the item
    and user limits refuse anything.
    """

    max_items: int | None = None
    max_users: int | None = None
    bytes_per_user: float = 0.0
    bytes_per_item: float = 0.0
    # Engines holding a dense items x items matrix (EASE) grow with the square.
    bytes_per_item_pair: float = 0.0
    # Says why the limit exists, in the refusal message.
    reason: str = ""

    def memory_bytes(self, n_users: int, n_items: int) -> float:
        return (
            self.bytes_per_user * n_users
            + self.bytes_per_item * n_items
            + self.bytes_per_item_pair * float(n_items) ** 2
        )

    def refusal(self, engine: str, n_users: int, n_items: int) -> str | None:
        """Why `engine` will not fit data of this size, or None when it fits."""
        memory = self.memory_bytes(n_users, n_items) / GIB
        need = f" (about {memory:,.1f} GiB to fit)" if memory >= 0.1 else ""
        why = f": {self.reason}" if self.reason else ""
        if self.max_items is not None and n_items > self.max_items:
            return (
                f"{engine} is limited to {self.max_items:,} services and the data has "
                f"{n_items:,}{need}{why}; raise ENGINE_MAX_ITEMS ({engine}=N) only on a machine "
                "with that much memory"
            )
        if self.max_users is not None and n_users > self.max_users:
            return (
                f"{engine} is limited to {self.max_users:,} users and the data has "
                f"{n_users:,}{need}{why}"
            )
        return None

    def check(self, engine: str, n_users: int, n_items: int) -> None:
        """Raise `EngineLimitError` when `engine` will not fit data of this size."""
        message = self.refusal(engine, n_users, n_items)
        if message is not None:
            raise EngineLimitError(engine, message)
