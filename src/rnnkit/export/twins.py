"""Export twins: a task's model with its recurrent stacks as operators ONNX has.

Whatever backend a run trained on (fused, compiled scans, eager cells), its weights load
into fused ``nn.LSTM``/``nn.GRU`` stacks that ignore ``lengths``: the exported graph stops
padded rows through ONNX's ``sequence_lens`` instead (``onnx_graphs.wire_lengths``). A tanh
RNN becomes the GRU that computes exactly the same, because PyTorch's exporter unrolls
``nn.RNN`` at the traced length.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.nn.fused import FusedRecurrent
from rnnkit.nn.recurrent import RecurrentShape

GATE_OPEN = 1e4  # a gate bias that saturates its sigmoid exactly in float32


class UnpackedRecurrent(FusedRecurrent):
    """The fused stack traced on whole padded sequences: the graph's ``lengths`` input stops each row."""

    def run(self, x, state=None, lengths=None):
        return super().run(x, state)


def exportable(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` in eval mode whose recurrent stacks (any backend) are ``UnpackedRecurrent``
    twins with the same weights: ONNX's LSTM and GRU operators."""
    twin = copy.deepcopy(model).cpu().eval()
    for name, module in list(twin.named_modules()):
        if isinstance(module, RecurrentShape) and not isinstance(module, UnpackedRecurrent):
            parent, _, attribute = name.rpartition(".")
            setattr(twin.get_submodule(parent) if parent else twin, attribute, unpacked_twin(module).eval())
    return twin


def unpacked_twin(module: RecurrentShape) -> UnpackedRecurrent:
    if module.cell_type == "gru" and module.reset != "after":
        raise UserError("a GRU with the reset gate before its matrix multiply (--reset before) has no ONNX "
                        "operator; train with the default --reset after to export")
    if module.cell_type == "rnn" and module.nonlinearity != "tanh":
        raise UserError("only the tanh RNN exports to ONNX; train with the default --nonlinearity tanh to export")
    weights = module.state_dict()
    cell = module.cell_type
    if cell == "rnn":
        cell, weights = "gru", elman_as_gru(weights, module.hidden_size)
    with torch.random.fork_rng(devices=[]):
        twin = UnpackedRecurrent(cell, module.input_size, module.hidden_size, module.num_layers, module.dropout,
                                 module.bidirectional, module.nonlinearity, module.reset)
    twin.load_state_dict(weights)
    return twin


def elman_as_gru(weights: dict, hidden: int) -> dict:
    """A tanh RNN's weights as a GRU that computes exactly the same: reset gate 1 (sigmoid(+1e4) is 1.0
    in float32), update gate 0 (sigmoid(-1e4) is 0.0), so ``h' = n = tanh(W x + b + U h + c)``."""
    converted = {}
    for key, value in weights.items():
        zeros = value.new_zeros(2 * hidden, *value.shape[1:])
        if key.startswith("bias_ih"):
            zeros = torch.cat([value.new_full((hidden,), GATE_OPEN), value.new_full((hidden,), -GATE_OPEN)])
        converted[key] = torch.cat([zeros, value])  # torch.nn's GRU gate order: reset, update, new
    return converted
