"""``rnnkit export`` for a translator: ``encoder.onnx``, ``decoder_step.onnx`` and ``model.json``.

The encoder reads a padded batch once: ``(source[B, S], lengths[B]) -> (memory..., state...)``
(each row stops at its length). The decoder step is what greedy or beam search calls per
token: ``(tokens[B], memory..., state...) -> (logits[B, V], state..., attention[B, S])``. The
memory is what the model's conditioning reads: ``values``, ``keys`` and ``mask`` for
attention, ``summary`` for ``fixed``, nothing for ``none`` (no ``attention`` output then
either). Ids 0, 1, 2 are padding, start and end; a tokenizer's id k is k + 3.
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
from rnnkit.tasks.translate.model import BOS, EOS, PAD, SPECIALS, Memory, Seq2Seq
from rnnkit.tasks.translate.run import LoadedTranslator

ATTENDED = ("bahdanau", "dot", "general")


def memory_names(attention: str) -> list[str]:
    return ["values", "keys", "mask"] if attention in ATTENDED else ["summary"] if attention == "fixed" else []


class EncoderGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model, self.lstm = exportable(model), model.config.cell == "lstm"
        self.names = memory_names(model.s2s.attention)

    def forward(self, source, lengths):
        memory, state = self.model.encode(source, lengths)
        return (*(getattr(memory, name) for name in self.names), *flat(state, self.lstm))


class DecoderStepGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model, self.lstm = exportable(model), model.config.cell == "lstm"
        self.names = memory_names(model.s2s.attention)

    def forward(self, tokens, *rest):
        given = dict(zip(self.names, rest, strict=False))
        state = nested(rest[len(self.names):], self.lstm)
        summary = given.get("summary", torch.zeros(tokens.shape[0], 0))  # read by ``fixed`` only
        values = given.get("values", summary[:, None])                    # read by attention only
        memory = Memory(values, given.get("keys", values),
                        given.get("mask", torch.ones(values.shape[:2], dtype=torch.bool)), summary)
        logits, new_state, weights = self.model.step(tokens, state, memory)
        return (logits, *flat(new_state, self.lstm), *([weights] if weights is not None else []))


def memory_ports(names: list[str]) -> list[Port]:
    return [Port(name, {0: "batch"} if name == "summary" else {0: "batch", 1: "source"}) for name in names]


def export_onnx(loaded: LoadedTranslator, out: Path) -> list[Path]:
    """Write ``encoder.onnx``, ``decoder_step.onnx`` and ``model.json`` into ``out``; returns their paths."""
    require_onnx()
    out.mkdir(parents=True, exist_ok=True)
    model = loaded.model.cpu().eval()
    config, attention = model.config, model.s2s.attention
    names, memory = state_names(config.cell, config.num_layers), memory_names(attention)
    source = torch.tensor([[4, 5, 6], [6, 5, 0]])
    example_lengths = torch.tensor([3, 2])
    export_graph(EncoderGraph(model), (source, example_lengths),
                 [Port("source", {0: "batch", 1: "source"}), Port("lengths", {0: "batch"})],
                 [*memory_ports(memory), *state_ports(names)], out / "encoder.onnx", lengths={"": "lengths"})
    with torch.no_grad():
        encoded = EncoderGraph(model)(source, example_lengths)
    attends = attention in ATTENDED
    export_graph(DecoderStepGraph(model), (torch.tensor([BOS, BOS]), *encoded),
                 [Port("tokens", {0: "batch"}), *memory_ports(memory), *state_ports(names)],
                 [Port("logits", {0: "batch"}), *state_ports(names, "_out"),
                  *([Port("attention", {0: "batch", 1: "source"})] if attends else [])], out / "decoder_step.onnx")
    write_description(out / "model.json", {
        "task": "translate", "cell": config.cell, "layers": config.num_layers, "hidden_size": config.hidden_size,
        "attention": attention, "reverse_source": model.s2s.reverse_source, "specials": {
            "padding": PAD, "start": BOS, "end": EOS, "offset": SPECIALS},
        "source_vocab": vocabulary(loaded.source_tokenizer), "target_vocab": vocabulary(loaded.target_tokenizer),
        "tokenizer": loaded.source_tokenizer.kind, "target_tokenizer": loaded.target_tokenizer.kind,
        "encoder": {"inputs": ["source", "lengths"], "outputs": [*memory, *names]},
        "decoder_step": {"inputs": ["tokens", *memory, *names],
                         "outputs": ["logits", *(f"{n}_out" for n in names), *(["attention"] if attends else [])]}})
    return [out / "encoder.onnx", out / "decoder_step.onnx", out / "model.json"]
