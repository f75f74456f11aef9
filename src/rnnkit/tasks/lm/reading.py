"""``rnnkit viz``: a trained language model read over a text, written as a neuron page.

Reads the text through the model once (the sampling stepper, so the states are
the ones the model carries), then derives everything else from those states:
each position's five likeliest next tokens, the neuron finder's ranking against
text features, and the gates' saturation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.corpora import read_corpus
from rnnkit.errors import UserError
from rnnkit.tasks.lm.run import LoadedRun
from rnnkit.tasks.sections import decode_errors_of
from rnnkit.viz.activations import activations, neuron_name
from rnnkit.viz.features import FEATURES, text_features
from rnnkit.viz.finder import Match, find_neurons
from rnnkit.viz.gates import GateSaturation, gate_saturation, plot_saturation
from rnnkit.viz.neurons_page import TOP, NeuronPage, write_page

# how many activation values (tokens x neurons, one byte each) a page holds at most by default
PAGE_VALUES = 16_000_000


@dataclasses.dataclass
class Reading:
    pieces: list[str]
    states: dict[str, np.ndarray]  # "h0" -> (T, H)
    top_ids: np.ndarray
    top_probs: np.ndarray
    matches: list[Match]
    gates: list[GateSaturation]


def read_text(loaded: LoadedRun, sources: list[str], encoding: str,
              max_chars: int | None) -> tuple[np.ndarray, list[str]]:
    text = read_corpus(sources, encoding, max_chars, decode_errors_of(loaded.config))
    ids = loaded.tokenizer.encode(text)
    pieces = loaded.tokenizer.pieces(text)
    if len(ids) < 2:
        raise UserError(f"{', '.join(sources)}: needs at least 2 tokens to show; give a longer text")
    if len(pieces) != len(ids):  # a tokenizer whose pieces and ids disagree is a bug, not a user's error
        raise AssertionError(f"{len(pieces)} pieces for {len(ids)} tokens")
    return ids, pieces


def token_features(pieces: list[str]) -> dict[str, np.ndarray]:
    """Each text feature at each token's last character (where its state is read)."""
    per_char = text_features("".join(pieces))
    ends = np.maximum(np.cumsum([len(p) for p in pieces]) - 1, 0)
    return {name: values[ends] if len(values) else np.zeros(len(pieces)) for name, values in per_char.items()}


@torch.no_grad()
def next_token_tops(loaded: LoadedRun, top_hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``TOP`` likeliest next tokens and their probabilities after each position."""
    head = loaded.model.head
    device = head.weight.device
    ids, probs = [], []
    for start in range(0, len(top_hidden), 8192):
        logits = head(torch.from_numpy(top_hidden[start:start + 8192]).to(device))
        best = torch.softmax(logits.float(), dim=-1).topk(min(TOP, logits.shape[-1]), dim=-1)
        ids.append(best.indices.cpu().numpy())
        probs.append(best.values.cpu().numpy())
    return np.concatenate(ids), np.concatenate(probs)


def read_model(loaded: LoadedRun, ids: np.ndarray, pieces: list[str], top: int,
               show_progress: bool) -> Reading:
    from tqdm.auto import tqdm

    model = loaded.model
    if model.recurrent.bidirectional:
        raise UserError(f"{loaded.run}: a bidirectional model sees the future, so its neurons over a text "
                        "are not the states it generates from; viz reads one-directional models")
    bar = tqdm(total=len(ids), unit="tok", desc="reading", disable=not show_progress, leave=False)
    states = activations(model.recurrent, model.embedding.weight, ids, lambda n: bar.update(n - bar.n))
    bar.close()
    top_ids, top_probs = next_token_tops(loaded, states[f"h{model.recurrent.num_layers - 1}"])
    matches = find_neurons(states, token_features(pieces), top)
    gates = gate_saturation(model.recurrent, model.embedding.weight, ids, states)
    return Reading(pieces, states, top_ids, top_probs, matches, gates)


def choose_neurons(reading: Reading, max_neurons: int) -> list[str]:
    """Every neuron if they fit; otherwise the finder's picks, then the most variable ones."""
    steps = len(reading.pieces)
    limit = max_neurons or max(PAGE_VALUES // steps, 1)
    every = [(state, unit) for state, values in reading.states.items() for unit in range(values.shape[1])]
    if len(every) <= limit:
        return [neuron_name(s, u) for s, u in every]
    spread = {neuron_name(s, u): float(reading.states[s][:, u].std()) for s, u in every}
    ranked = list(dict.fromkeys([m.neuron for m in reading.matches] + sorted(spread, key=lambda n: -spread[n])))
    order = {neuron_name(s, u): k for k, (s, u) in enumerate(every)}
    return sorted(ranked[:max(limit, len({m.neuron for m in reading.matches}))], key=order.__getitem__)


def write_neuron_page(loaded: LoadedRun, reading: Reading, sources: list[str], out: Path,
                      max_neurons: int) -> dict:
    gate_png = out.with_name(f"{out.stem}-gates.png")
    png_bytes = None
    if reading.gates:
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_saturation(reading.gates, gate_png)
        png_bytes = gate_png.read_bytes()
    chosen = choose_neurons(reading, max_neurons)
    total = sum(v.shape[1] for v in reading.states.values())
    note = (f"{len(chosen)} of {total} neurons are on this page (the finder's picks first, then the most "
            "variable); pass --max-neurons to change that" if len(chosen) < total else "")
    neurons = {}
    for name in chosen:
        state, unit = name.split(":")
        neurons[name] = reading.states[state][:, int(unit)]
    tokenizer = loaded.tokenizer
    page = NeuronPage(
        title=f"{loaded.run.name}: neurons over {', '.join(Path(s).name for s in sources)}",
        pieces=reading.pieces, neurons=neurons, top_ids=reading.top_ids, top_probs=reading.top_probs,
        vocab=[tokenizer.decode([i]) for i in range(tokenizer.vocab_size)], matches=reading.matches,
        meanings=FEATURES, note=note, gate_png=png_bytes,
        gate_table=[{"layer": g.layer, "gate": g.gate, "left": g.mean_left, "right": g.mean_right}
                    for g in reading.gates])
    write_page(page, out)
    return {"html": out, "gates_png": gate_png if reading.gates else None, "neurons": len(chosen),
            "of": total, "tokens": len(reading.pieces), "size": out.stat().st_size}


