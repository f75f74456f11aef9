"""``rnnkit export`` for a classifier: ``classify.onnx`` over padded batches, and ``model.json``.

``(tokens[B, T], lengths[B]) -> logits[B, C]``. Rows are padded with id 0 after their
``lengths`` tokens; the recurrent layers stop at each row's length (ONNX's ``sequence_lens``),
so a row scores the same alone and in any padded batch, as with PyTorch's packed sequences.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rnnkit.export.onnx_graphs import Port, export_graph, require_onnx, vocabulary, write_description
from rnnkit.export.twins import exportable
from rnnkit.tasks.classify.run import LoadedClassifier


class ClassifyGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = exportable(model)

    def forward(self, tokens, lengths):
        return self.model(tokens, lengths)


def export_onnx(loaded: LoadedClassifier, out: Path) -> list[Path]:
    """Write ``classify.onnx`` and ``model.json`` into ``out``; returns their paths."""
    require_onnx()
    out.mkdir(parents=True, exist_ok=True)
    example = (torch.tensor([[1, 2, 3], [3, 2, 0]]), torch.tensor([3, 2]))
    export_graph(ClassifyGraph(loaded.model), example,
                 [Port("tokens", {0: "batch", 1: "time"}), Port("lengths", {0: "batch"})],
                 [Port("logits", {0: "batch"})], out / "classify.onnx", lengths={"": "lengths"})
    write_description(out / "model.json", {
        "task": "classify", "tokenizer": loaded.config["data"]["tokenizer"], "vocab": vocabulary(loaded.tokenizer),
        "padding_id": 0, "labels": loaded.labels, "pooling": loaded.model.pooling,
        "classify": {"inputs": ["tokens", "lengths"], "outputs": ["logits"]}})
    return [out / "classify.onnx", out / "model.json"]
