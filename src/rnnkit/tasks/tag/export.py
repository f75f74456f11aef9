"""``rnnkit export`` for a tagger: ``emissions.onnx`` (a score per word and tag) and ``model.json``.

``(words[B, T], lengths[B], caps[B, T], chars[B, T, L], char_lengths[B, T]) -> emissions[B, T, K]``;
``caps`` only when words are looked up lower-cased, ``chars``/``char_lengths`` only with
character features (each word's first ``max_word_chars`` characters, padded with 0; a padding
word's length is 1). A softmax tagger's tag is each word's best score; with a CRF,
``model.json`` holds the transition, start and end scores (constraints already added) for
Viterbi decoding over the emissions, as rnnkit decodes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rnnkit.export.onnx_graphs import Port, export_graph, require_onnx, write_description
from rnnkit.export.twins import exportable
from rnnkit.tasks.tag.model import Tagger
from rnnkit.tasks.tag.run import LoadedTagger
from rnnkit.tasks.tag.vocab import CAPS, MAX_WORD_CHARS, PAD, UNK


class EmissionsGraph(nn.Module):
    """``Tagger.emissions`` over plain tensors: every position spelt (padding too), then masked."""

    def __init__(self, model: Tagger) -> None:
        super().__init__()
        self.model = exportable(model)

    def forward(self, words, lengths, *extra):
        model, extra = self.model, list(extra)
        parts = [model.embedding(words)]
        if model.caps is not None:
            parts.append(model.caps(extra.pop(0)))
        if model.chars is not None:
            chars, char_lengths = extra
            batch, steps, letters = chars.shape
            spelt = model.chars(chars.reshape(batch * steps, letters), char_lengths.reshape(-1))
            real = torch.arange(steps)[None, :] < lengths[:, None]                 # (B, T)
            parts.append(spelt.reshape(batch, steps, -1) * real[..., None])
        out, _ = model.recurrent(torch.cat(parts, dim=-1), None, lengths)
        return model.head(out)


def example_inputs(model: Tagger) -> tuple[list[Port], tuple]:
    ports, tensors = [Port("words", {0: "batch", 1: "time"}), Port("lengths", {0: "batch"})], [
        torch.tensor([[2, 3, 4], [4, 3, 0]]), torch.tensor([3, 2])]
    if model.caps is not None:
        ports.append(Port("caps", {0: "batch", 1: "time"}))
        tensors.append(torch.zeros(2, 3, dtype=torch.long))
    if model.chars is not None:
        ports += [Port("chars", {0: "batch", 1: "time", 2: "letters"}), Port("char_lengths", {0: "batch", 1: "time"})]
        tensors += [torch.ones(2, 3, 4, dtype=torch.long), torch.tensor([[4, 2, 1], [3, 1, 1]])]
    return ports, tuple(tensors)


def crf_scores(model: Tagger) -> dict | None:
    if model.crf is None:
        return None
    transitions, start = model.crf._scores()
    return {"transitions": transitions.tolist(), "start": start.tolist(), "end": model.crf.end.tolist(),
            "rows_are": "from", "columns_are": "to"}


def export_onnx(loaded: LoadedTagger, out: Path) -> list[Path]:
    """Write ``emissions.onnx`` and ``model.json`` into ``out``; returns their paths."""
    require_onnx()
    out.mkdir(parents=True, exist_ok=True)
    model = loaded.model.cpu().eval()
    ports, example = example_inputs(model)
    lengths = {"": "lengths"}
    if model.chars is not None and model.chars.kind == "lstm":
        lengths["model.chars"] = "char_lengths"  # the character BiLSTM stops at each word's last letter
    export_graph(EmissionsGraph(model), example, ports, [Port("emissions", {0: "batch", 1: "time"})],
                 out / "emissions.onnx", lengths=lengths)
    vocab = loaded.vocab
    with torch.no_grad():
        crf = crf_scores(model)
    write_description(out / "model.json", {
        "task": "tag", "words": vocab.words, "chars": vocab.chars, "tags": vocab.tags, "unknown_id": UNK,
        "padding_id": PAD, "lowercase": vocab.lowercase, "caps": list(CAPS) if model.caps is not None else None,
        "max_word_chars": MAX_WORD_CHARS, "crf": crf,
        "emissions": {"inputs": [p.name for p in ports], "outputs": ["emissions"]}})
    return [out / "emissions.onnx", out / "model.json"]
