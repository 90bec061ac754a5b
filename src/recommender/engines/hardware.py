"""What engines train on: the PyTorch device, and how many threads the numeric libraries use.

PyTorch is imported only when a device or a thread count of its own is asked for, so engines
that never touch it (and serving) do not load it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def training_device(requested: str) -> torch.device:
    """The PyTorch device asked for, or the CPU (with a warning) when it is not there."""
    import torch

    if requested.startswith("cuda") and not torch.cuda.is_available():
        log.warning(
            "TRAINING_DEVICE=%s but no CUDA device is available: training on the CPU", requested
        )
        return torch.device("cpu")
    return torch.device(requested)


@contextmanager
def limited_threads(*, torch_threads: int = 0, blas_threads: int = 0) -> Iterator[None]:
    """Run a block with this many PyTorch intra-op threads and BLAS threads (0 leaves a count
    as it is), and give the process its previous counts back afterwards, even on an error.

    The counts are the process's own, so two fits with different counts must not overlap in
    threads of one process (training jobs run one at a time per worker).
    """
    with ExitStack() as stack:
        if blas_threads:
            stack.enter_context(threadpool_limits(blas_threads, "blas"))
        if torch_threads:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(torch_threads)
            stack.callback(torch.set_num_threads, previous)
        yield
