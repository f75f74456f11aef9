"""Luong's input feeding: the previous attentional vector goes in with each target token, carried
from step to step in training and recomputed from the recurrent state when decoding (that the two
agree is ``test_translate.py``'s step-at-a-time test)."""

from __future__ import annotations

import json

import pytest
import torch
from test_translate import SMALL, random_batch, synthetic_pairs

from rnnkit.cli import main
from rnnkit.data.sequences import pad
from rnnkit.errors import UserError
from rnnkit.tasks.sections import ModelConfig
from rnnkit.tasks.translate import run as translate_run
from rnnkit.tasks.translate.decoding import target_batch
from rnnkit.tasks.translate.model import Seq2Seq, Seq2SeqConfig


def feeding_model(attention: str = "general", cell: str = "lstm", feeding: bool = True) -> Seq2Seq:
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, hidden_size=12, embedding_size=8, num_layers=2, backend="fused")
    return Seq2Seq(15, 11, config, Seq2SeqConfig(attention=attention, input_feeding=feeding),
                   attention != "dot").eval()


def attentional(model: Seq2Seq, top: torch.Tensor, memory) -> torch.Tensor:
    context, _ = model.attention(top, memory.keys, memory.values, memory.mask)
    return torch.tanh(model.combine(torch.cat([top, context], dim=-1)))


def test_each_step_reads_its_token_beside_the_attentional_vector_of_the_step_before():
    """Built by hand from the model's parts: the decoder's input is [embedding; tanh(W [h; context])]."""
    model = feeding_model(cell="gru")
    sources, targets = random_batch(2)
    (ids, lengths), (target_in, _) = pad(sources), target_batch(targets)
    with torch.no_grad():
        logits, _ = model(ids, lengths, target_in)
        memory, state = model.encode(ids, lengths)
        fed = attentional(model, state[-1], memory)  # the first step is fed the bridge's
        for t in range(3):
            x = torch.cat([model.target_embedding(target_in[:, t]), fed], dim=-1)
            out, state = model.decoder(x[:, None], state)
            fed = attentional(model, out[:, 0], memory)
            torch.testing.assert_close(logits[:, t], model.head(fed), atol=1e-5, rtol=1e-5)
    plain = feeding_model(cell="gru", feeding=False)
    extra = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 3 * 12 * 12  # the first decoder layer's three gates read 12 more inputs


@pytest.mark.parametrize("attention", ["none", "fixed", "bahdanau"])
def test_feeding_without_luong_attention_is_refused(attention):
    with pytest.raises(UserError, match="--input-feeding"):
        feeding_model(attention)


def test_a_fed_run_trains_learns_and_translates_with_a_beam_after_loading(tmp_path, capsys):
    synthetic_pairs(tmp_path / "pairs.tsv", "reverse", 300, seed=7)
    assert main(["train", "translate", str(tmp_path / "pairs.tsv"), *SMALL, "--steps", "40", "--eval-every", "10",
                 "--tune-length-penalty", "0", "--input-feeding", "--out", str(tmp_path / "run")]) == 0
    loaded = translate_run.load(tmp_path / "run")
    assert loaded.model.s2s.input_feeding
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [entry["val_loss"] for entry in logged if "val_loss" in entry]
    assert len(losses) == 4 and losses[-1] < losses[0]
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), "1 2 3", "--beam", "3"]) == 0
    assert capsys.readouterr().out.strip()


def test_feeding_with_bahdanau_attention_is_one_line_before_the_data(tmp_path, capsys):
    code = main(["train", "translate", str(tmp_path / "missing.tsv"), "--attention", "bahdanau",
                 "--input-feeding", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and "--input-feeding" in error[0] and not (tmp_path / "run").exists()
