"""``rnnkit export`` for a line model: ``step.onnx``, ``score.onnx`` and ``model.json``.

As the language model's graphs, with the label an input of both when the model is
conditioned on one: ``(tokens[B], labels[B], state...) -> (logits[B, V], state...)`` and
``(tokens[B, T], labels[B], state...) -> (logits[B, T, V], state...)``. A line starts from
the ``boundary`` id and ends when the model emits it again.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

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
from rnnkit.tasks.lines.model import LineModel
from rnnkit.tasks.lines.run import LoadedLines


class LineGraph(nn.Module):
    """One token per row (``step``) or a whole sequence, the label (if any) after the tokens."""

    def __init__(self, model: LineModel, step: bool) -> None:
        super().__init__()
        self.model, self.step = exportable(model), step
        self.conditioned = model.label_embedding is not None
        self.lstm = model.recurrent.cell_type == "lstm"

    def forward(self, tokens, *rest):
        labels, state = (rest[0], rest[1:]) if self.conditioned else (None, rest)
        logits, new_state = self.model(tokens[:, None] if self.step else tokens, labels, nested(state, self.lstm))
        return (logits[:, 0] if self.step else logits, *flat(new_state, self.lstm))


def export_onnx(loaded: LoadedLines, out: Path) -> list[Path]:
    """Write ``step.onnx``, ``score.onnx`` and ``model.json`` into ``out``; returns their paths."""
    require_onnx()
    out.mkdir(parents=True, exist_ok=True)
    model, recurrent = loaded.model, loaded.model.recurrent
    names = state_names(recurrent.cell_type, recurrent.num_layers)
    state = tuple(torch.zeros(2, recurrent.hidden_size) for _ in names)
    conditioned = model.label_embedding is not None
    label = ([Port("labels", {0: "batch"})], (torch.tensor([0, 0]),)) if conditioned else ([], ())
    graphs = {}
    for name, tokens, axes in (("score", torch.tensor([[1, 2, 3], [3, 2, 1]]), {0: "batch", 1: "time"}),
                               ("step", torch.tensor([1, 2]), {0: "batch"})):
        export_graph(LineGraph(model, step=name == "step"), (tokens, *label[1], *state),
                     [Port("tokens", axes), *label[0], *state_ports(names)],
                     [Port("logits", axes), *state_ports(names, "_out")], out / f"{name}.onnx")
        graphs[name] = {"inputs": ["tokens", *(["labels"] if conditioned else []), *names],
                        "outputs": ["logits", *(f"{n}_out" for n in names)]}
    write_description(out / "model.json", {
        "task": "lines", "cell": recurrent.cell_type, "layers": recurrent.num_layers,
        "hidden_size": recurrent.hidden_size, "tokenizer": loaded.config["data"]["tokenizer"],
        "vocab": vocabulary(loaded.tokenizer), "boundary": model.boundary, "labels": loaded.labels,
        "state": {name: ["batch", recurrent.hidden_size] for name in names}, **graphs})
    return [out / "step.onnx", out / "score.onnx", out / "model.json"]
