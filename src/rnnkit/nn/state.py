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


def select_rows(state: State, index: Tensor) -> State:
    """Rows of a state picked by ``index`` (beam search keeps the surviving hypotheses)."""
    return map_state(lambda t: t.index_select(0, index), state)


def top_hidden(state: State) -> Tensor:
    """The top layer's hidden state (B, H), the query a decoder attends with."""
    last = state[-1]
    return last[0] if isinstance(last, tuple) else last


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a chunk boundary: the heart of truncated BPTT."""
    return None if state is None else map_state(Tensor.detach, state)
