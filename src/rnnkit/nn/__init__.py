"""Recurrent building blocks: cells from their equations, unrolled and fused layers."""

from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell, make_cell
from rnnkit.nn.compiled import CompiledRecurrent
from rnnkit.nn.fused import FusedRecurrent
from rnnkit.nn.recurrent import Recurrent, State
from rnnkit.nn.state import detach_state, map_state
from rnnkit.nn.stepper import Stepper, as_unrolled

__all__ = [
    "CompiledRecurrent", "FusedRecurrent", "GRUCell", "LSTMCell", "RNNCell", "Recurrent", "State", "Stepper",
    "as_unrolled", "detach_state", "make_cell", "map_state",
]
