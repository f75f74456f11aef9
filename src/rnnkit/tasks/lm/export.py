"""``rnnkit export RUN --format onnx``: a language model as two ONNX graphs and a JSON description.

``step.onnx`` is the sampler's stepper, ``(tokens[B], state...) -> (logits[B, V], state...)``;
``score.onnx`` the whole model over a sequence, ``(tokens[B, T], state...) -> (logits[B, T, V],
state...)``. The batch (and the scorer's time) axis is dynamic. ``model.json`` says what a
program in any language needs to sample without rnnkit: the vocabulary, the state inputs and
their shapes, the cell. The state is one ``[B, H]`` input per layer (``h0``, and ``c0`` for an
LSTM's cell state), the same names with ``_out`` as outputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from rnnkit.errors import UserError
from rnnkit.tasks.lm.run import LoadedRun

FORMAT = 1


def state_names(cell: str, layers: int) -> list[str]:
    return [f"{kind}{k}" for k in range(layers) for kind in (("h", "c") if cell == "lstm" else ("h",))]


def flat(state, lstm: bool) -> tuple:
    return tuple(t for layer in state for t in (layer if lstm else (layer,)))


def nested(values: tuple, lstm: bool) -> tuple:
    return tuple(zip(values[::2], values[1::2], strict=True)) if lstm else tuple(values)


class StepGraph(nn.Module):
    """The stepper as a module, its lookup table a buffer so that it is exported as a constant."""

    def __init__(self, loaded: LoadedRun) -> None:
        super().__init__()
        self.stepper = loaded.model.make_stepper(torch.float32, torch.mm)  # one graph, any batch
        self.register_buffer("table", self.stepper.recurrent.first_layer_table)
        self.lstm = loaded.model.config.cell == "lstm"

    def forward(self, tokens, *state):
        self.stepper.recurrent.first_layer_table = self.table
        logits, new_state = self.stepper.step(tokens, nested(state, self.lstm))
        return (logits, *flat(new_state, self.lstm))


class ScoreGraph(nn.Module):
    def __init__(self, loaded: LoadedRun) -> None:
        super().__init__()
        self.model, self.lstm = loaded.model, loaded.model.config.cell == "lstm"

    def forward(self, tokens, *state):
        logits, new_state = self.model(tokens, nested(state, self.lstm))
        return (logits, *flat(new_state, self.lstm))


def export_graph(module: nn.Module, example: tuple, names: list[str], path: Path, timed: bool) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    token_axes = {0: batch, 1: torch.export.Dim("time", min=2, max=1_000_000)} if timed else {0: batch}
    # the exporter's progress lines and its warnings about torch's own modules are not the command's output
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), example, str(path), input_names=["tokens", *names],
                              output_names=["logits", *(f"{n}_out" for n in names)], dynamo=True,
                              external_data=False, dynamic_shapes=(token_axes, tuple({0: batch} for _ in names)))
    finally:
        exporter_log.setLevel(level)
    if timed:
        name_time_axis(path)


def name_time_axis(path: Path) -> None:
    """The exporter writes the traced length as the logits' time axis; make it symbolic, as the input's."""
    import onnx

    graph = onnx.load(str(path))
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "time"
    del graph.graph.value_info[:]  # the traced length is written on the inner values too; runtimes infer them
    onnx.save(graph, str(path))


def export_onnx(loaded: LoadedRun, out: Path) -> list[Path]:
    """Write ``step.onnx``, ``score.onnx`` and ``model.json`` into ``out``; returns their paths."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise UserError("export --format onnx needs onnx and onnxscript: pip install -e '.[export]'") from None
    config = loaded.model.config
    if loaded.model.recurrent.bidirectional:
        raise UserError(f"{loaded.run}: a bidirectional model cannot step one token at a time; nothing to export")
    loaded.model.cpu().eval()
    out.mkdir(parents=True, exist_ok=True)
    names = state_names(config.cell, config.num_layers)
    state = tuple(torch.zeros(2, config.hidden_size) for _ in names)
    export_graph(StepGraph(loaded), (torch.tensor([1, 2]), *state), names, out / "step.onnx", timed=False)
    export_graph(ScoreGraph(loaded), (torch.tensor([[1, 2, 3], [3, 2, 1]]), *state), names, out / "score.onnx",
                 timed=True)
    tokenizer = loaded.tokenizer
    description = {"format": FORMAT, "task": "lm", "cell": config.cell, "layers": config.num_layers,
                   "hidden_size": config.hidden_size, "tokenizer": loaded.config["data"]["tokenizer"],
                   "vocab": [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)],
                   "state": {name: ["batch", config.hidden_size] for name in names},
                   "step": {"inputs": ["tokens", *names], "outputs": ["logits", *(f"{n}_out" for n in names)]},
                   "score": {"inputs": ["tokens", *names], "outputs": ["logits", *(f"{n}_out" for n in names)]},
                   "start_text": loaded.config["start_text"]}
    (out / "model.json").write_text(json.dumps(description, ensure_ascii=False, indent=1), encoding="utf-8")
    return [out / "step.onnx", out / "score.onnx", out / "model.json"]
