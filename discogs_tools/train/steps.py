"""One optimiser step over one or more micro-batches (gradient accumulation).

ISMIR 2022 trained with 200 pairs per GPU on six GPUs, "so that each optimizer step aggregated six
batches computed by different GPUs" (seed 000 sec. 4.2, seed 004 sec. 4.3.2). ``accumulate = 6``
reproduces that step on one device: six micro-batches of ``batch_size`` pairs, each a contrastive
batch of its own (its negatives are the other pairs of the same micro-batch), then one step.

Scaling: under DDP each rank's loss is the mean over its own batch, and DDP averages the ranks'
gradients. The accumulated step does the same: autograd sums the micro-batch gradients into
``.grad`` in micro-batch order, and the sum is divided by the number of micro-batches before the
step, so the step's gradient is the mean of the micro-batch gradients, as with one micro-batch per
rank. (We divide once after summing, rather than scaling each loss by 1/k, so that the step equals
``(g_1 + ... + g_k) / k`` exactly, bit for bit on CPU.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")


def with_last(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """(item, is_last) for every item, looking one item ahead."""
    it = iter(items)
    try:
        current = next(it)
    except StopIteration:
        return
    for nxt in it:
        yield current, False
        current = nxt
    yield current, True


def accumulated_step(parameters: Iterable[Any], optimizer, scaler, micro_batches: Iterable[T],
                     forward: Callable[[T], tuple], *, check: Callable[[Any, int], None] | None = None,
                     no_sync: Callable[[], AbstractContextManager] | None = None) -> list[tuple]:
    """Zero the gradients, run ``forward`` and backward on every micro-batch, divide the summed
    gradient by their number, then step (through the AMP ``scaler``). Returns ``forward``'s outputs.

    ``forward(batch)`` returns ``(loss, ...)``; ``check(loss, index)`` may raise before that loss is
    back-propagated (non-finite loss); ``no_sync`` (DDP's ``net.no_sync``) wraps every micro-batch
    but the last, so ranks exchange gradients once per step."""
    parameters = list(parameters)
    optimizer.zero_grad(set_to_none=True)
    outputs: list[tuple] = []
    for batch, last in with_last(micro_batches):
        with no_sync() if no_sync is not None and not last else nullcontext():
            out = forward(batch)
            if check is not None:
                check(out[0], len(outputs))
            scaler.scale(out[0]).backward()
        outputs.append(out)
    if len(outputs) > 1:
        for p in parameters:
            if p.grad is not None:
                p.grad.div_(len(outputs))
    if outputs:
        scaler.step(optimizer)
        scaler.update()
    return outputs


__all__ = ["accumulated_step", "with_last"]
