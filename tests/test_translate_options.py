"""The translator's options: tied target embeddings (one matrix read by the decoder's input and written
by its output layer) and batches cut by tokens when the user did not choose a batching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_translate import SMALL, synthetic_pairs

from rnnkit.cli import main
from rnnkit.errors import UserError
from rnnkit.tasks.runs import read_split
from rnnkit.tasks.sections import ModelConfig
from rnnkit.tasks.translate import run as translate_run
from rnnkit.tasks.translate.model import Seq2Seq, Seq2SeqConfig


def tiny(tie: bool, embedding: int = 12) -> Seq2Seq:
    torch.manual_seed(0)
    config = ModelConfig(cell="gru", hidden_size=12, embedding_size=embedding, backend="eager", tie_weights=tie)
    return Seq2Seq(15, 11, config, Seq2SeqConfig(), True)


def test_the_output_layer_is_the_target_embedding_and_one_gradient_reaches_it_from_both_ends():
    model = tiny(True)
    assert model.head.weight is model.target_embedding.weight
    top = torch.randn(3, 12)
    torch.testing.assert_close(model.head(top), top @ model.target_embedding.weight.T + model.head.bias)
    untied = tiny(False)
    untied.load_state_dict(model.state_dict())  # the same numbers in two separate matrices
    source, lengths, target = torch.tensor([[3, 4, 5]]), torch.tensor([3]), torch.tensor([[1, 6, 7]])
    for m in (model, untied):
        logits, _ = m(source, lengths, target)
        logits.logsumexp(-1).sum().backward()
    both_ends = untied.head.weight.grad + untied.target_embedding.weight.grad
    torch.testing.assert_close(model.target_embedding.weight.grad, both_ends)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in untied.parameters()) - 11 * 12


def test_untied_models_keep_two_matrices_and_unequal_sizes_are_refused():
    model = tiny(False)
    assert model.head.weight.data_ptr() != model.target_embedding.weight.data_ptr()
    with pytest.raises(UserError, match="--embedding-size equal to --hidden-size"):
        tiny(True, embedding=8)


def test_a_tied_run_trains_saves_one_matrix_and_translates_after_loading(tmp_path, capsys):
    synthetic_pairs(tmp_path / "pairs.tsv", "reverse", 200, seed=3)
    common = ["train", "translate", str(tmp_path / "pairs.tsv"), *SMALL, "--steps", "6", "--eval-every", "6",
              "--tune-length-penalty", "0"]
    assert main([*common, "--embedding-size", "32", "--tie-weights", "--out", str(tmp_path / "run")]) == 0
    saved = load_file(tmp_path / "run" / "model.safetensors")
    assert ("head.weight" in saved) != ("target_embedding.weight" in saved)  # stored once
    loaded = translate_run.load(tmp_path / "run").model
    assert loaded.head.weight is loaded.target_embedding.weight
    stored = saved.get("head.weight", saved.get("target_embedding.weight"))
    torch.testing.assert_close(loaded.head.weight.detach(), stored)
    assert main(["predict", str(tmp_path / "run"), "1 2 3"]) == 0
    capsys.readouterr()
    assert main([*common, "--tie-weights", "--out", str(tmp_path / "bad")]) == 2  # embedding 16, hidden 32
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--embedding-size equal to --hidden-size" in error[0]
    assert not (tmp_path / "bad").exists()  # refused before the data is read or a run is made


def test_token_batches_hold_as_many_tokens_as_the_batch_size_of_average_pairs():
    from rnnkit.tasks.translate.budget import batching_choices

    (choice,) = batching_choices(np.array([5, 7, 12]), 64, set())
    assert (choice.field, choice.value) == ("batch_tokens", 512)
    assert batching_choices(np.array([5, 7]), 64, {"batch_size"}) == []
    assert batching_choices(np.array([5, 7]), 64, {"batch_tokens"}) == []


def test_a_run_batches_by_tokens_unless_told_and_says_why(tmp_path, capsys):
    synthetic_pairs(tmp_path / "pairs.tsv", "reverse", 300, seed=4)
    common = ["train", "translate", str(tmp_path / "pairs.tsv"), "--hidden-size", "16", "--embedding-size", "8",
              "--steps", "2", "--tune-length-penalty", "0", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "auto")]) == 0
    config = json.loads((tmp_path / "auto" / "config.json").read_text())
    train = read_split(tmp_path / "auto", "train", ("source", "target"))
    costs = [len(s.split()) + len(t.split()) + 1 + 1 for s, t in train]  # words, the end token, the start
    assert config["seq2seq"]["batch_tokens"] == round(64 * sum(costs) / len(costs))
    assert [c["field"] for c in config["auto"]] == ["batch_tokens"]
    assert "auto: --batch-tokens" in capsys.readouterr().err
    assert main([*common, "--batch-size", "32", "--out", str(tmp_path / "pairs")]) == 0
    config = json.loads((tmp_path / "pairs" / "config.json").read_text())
    assert config["seq2seq"]["batch_tokens"] == 0 and config["auto"] == []
