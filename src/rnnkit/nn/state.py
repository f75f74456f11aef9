"""Helpers over recurrent state (nested tuples of tensors)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from rnnkit.nn.recurrent import State


def map_state(fn: Callable[[Tensor], Tensor], state):
    """Apply ``fn`` to every tensor in a (nested) state tuple."""
    if isinstance(state, Tensor):
        return fn(state)
    return tuple(map_state(fn, item) for item in state)


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a chunk boundary: the heart of truncated BPTT."""
    return None if state is None else map_state(Tensor.detach, state)
