"""``rnnkit export RUN --format onnx``: a language model as two ONNX graphs and a JSON description.

``step.onnx`` is the sampler's stepper, ``(tokens[B], state...) -> (logits[B, V], state...)``;
``score.onnx`` the whole model over a sequence, ``(tokens[B, T], state...) -> (logits[B, T, V],
state...)``. The batch (and the scorer's time) axis is dynamic. ``model.json`` says what a
program in any language needs to sample without rnnkit: the vocabulary, the state inputs and
their shapes, the cell. The state is one ``[B, H]`` input per layer (``h0``, and ``c0`` for an
LSTM's cell state), the same names with ``_out`` as outputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.export.onnx_graphs import (
    Port,
    export_graph,
    flat,
    nested,
    require_onnx,
    state_names,
    state_ports,
    vocabulary,
    write_description,
)
from rnnkit.export.twins import exportable
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.run import LoadedRun


class StepGraph(nn.Module):
    """The stepper as a module, its lookup table a buffer so that it is exported as a constant."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.stepper = model.make_stepper(torch.float32, torch.mm)  # one graph, any batch
        self.register_buffer("table", self.stepper.recurrent.first_layer_table)
        self.lstm = model.config.cell == "lstm"

    def forward(self, tokens, *state):
        self.stepper.recurrent.first_layer_table = self.table
        logits, new_state = self.stepper.step(tokens, nested(state, self.lstm))
        return (logits, *flat(new_state, self.lstm))


class ScoreGraph(nn.Module):
    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.model, self.lstm = exportable(model), model.config.cell == "lstm"

    def forward(self, tokens, *state):
        logits, new_state = self.model(tokens, nested(state, self.lstm))
        return (logits, *flat(new_state, self.lstm))


def export_graphs(model: LanguageModel, out: Path) -> None:
    """``step.onnx`` and ``score.onnx`` of ``model`` into ``out``."""
    config = model.config
    model.cpu().eval()
    names = state_names(config.cell, config.num_layers)
    state = tuple(torch.zeros(2, config.hidden_size) for _ in names)
    export_graph(StepGraph(model), (torch.tensor([1, 2]), *state),
                 [Port("tokens", {0: "batch"}), *state_ports(names)],
                 [Port("logits", {0: "batch"}), *state_ports(names, "_out")], out / "step.onnx")
    export_graph(ScoreGraph(model), (torch.tensor([[1, 2, 3], [3, 2, 1]]), *state),
                 [Port("tokens", {0: "batch", 1: "time"}), *state_ports(names)],
                 [Port("logits", {0: "batch", 1: "time"}), *state_ports(names, "_out")], out / "score.onnx")


def export_onnx(loaded: LoadedRun, out: Path) -> list[Path]:
    """Write ``step.onnx``, ``score.onnx`` and ``model.json`` into ``out``; returns their paths."""
    require_onnx()
    config = loaded.model.config
    if loaded.model.recurrent.bidirectional:
        raise UserError(f"{loaded.run}: a bidirectional model cannot step one token at a time; nothing to export")
    out.mkdir(parents=True, exist_ok=True)
    export_graphs(loaded.model, out)
    names = state_names(config.cell, config.num_layers)
    graph = {"inputs": ["tokens", *names], "outputs": ["logits", *(f"{n}_out" for n in names)]}
    write_description(out / "model.json", {
        "task": "lm", "cell": config.cell, "layers": config.num_layers, "hidden_size": config.hidden_size,
        "tokenizer": loaded.config["data"]["tokenizer"],
        "vocab": vocabulary(loaded.tokenizer),
        "state": {name: ["batch", config.hidden_size] for name in names}, "step": graph, "score": graph,
        "start_text": loaded.config["start_text"]})
    return [out / "step.onnx", out / "score.onnx", out / "model.json"]
