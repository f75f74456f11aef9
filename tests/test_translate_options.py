"""The translator's options: tied target embeddings (one matrix read by the decoder's input and written
by its output layer), batches cut by tokens when the user did not choose a batching, and joint or
separate vocabularies."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_translate import SMALL, synthetic_pairs

from rnnkit.cli import main
from rnnkit.data.pairs import PairsConfig
from rnnkit.data.tokenizers import UNK_ID
from rnnkit.errors import UserError
from rnnkit.tasks.runs import read_split
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.tasks.translate import run as translate_run
from rnnkit.tasks.translate.budget import width_choices
from rnnkit.tasks.translate.model import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.translate.vocabulary import fit_pair_tokenizers, tokenizer_choices


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
    assert [c["field"] for c in config["auto"]] == ["tokenizer", "target_tokenizer", "batch_tokens"]
    assert "auto: --batch-tokens" in capsys.readouterr().err
    assert main([*common, "--batch-size", "32", "--out", str(tmp_path / "pairs")]) == 0
    config = json.loads((tmp_path / "pairs" / "config.json").read_text())
    assert config["seq2seq"]["batch_tokens"] == 0 and "batch_tokens" not in [c["field"] for c in config["auto"]]


ROWS = [("le chat noir", "the black cat"), ("le chien", "the dog"), ("un chat", "a cat"), ("Paris", "Paris")]


def unknown(tokenizer, lines) -> int:
    return sum(int((tokenizer.encode(line) == UNK_ID).sum()) for line in lines)


def test_a_joint_vocabulary_is_one_tokenizer_of_both_sides_and_separate_ones_have_their_own_sizes():
    french, english = [s for s, _ in ROWS], [t for _, t in ROWS]
    source, target = fit_pair_tokenizers(ROWS, DataConfig(tokenizer="word"), PairsConfig(joint_vocabulary=True))
    assert source is target and unknown(source, french + english) == 0
    source, target = fit_pair_tokenizers(ROWS, DataConfig(tokenizer="word"), PairsConfig())
    assert unknown(source, french) == 0 and unknown(target, english) == 0
    assert unknown(source, english) > 0 and unknown(target, french) > 0
    data, pairs = DataConfig(tokenizer="word", vocab_size=4), PairsConfig(target_vocab_size=2)
    assert [t.vocab_size for t in fit_pair_tokenizers(ROWS, data, pairs)] == [4, 2]


def test_a_joint_run_saves_and_loads_one_vocabulary_for_both_sides(tmp_path):
    (tmp_path / "pairs.tsv").write_text("\n".join(f"{s}\t{t}" for s, t in ROWS * 30) + "\n", encoding="utf-8")
    assert main(["train", "translate", str(tmp_path / "pairs.tsv"), *SMALL, "--steps", "1", "--keep-duplicates",
                 "--tune-length-penalty", "0", "--joint-vocabulary", "--out", str(tmp_path / "joint")]) == 0
    joint = translate_run.load(tmp_path / "joint")
    assert joint.source_tokenizer.to_dict() == joint.target_tokenizer.to_dict()
    assert unknown(joint.target_tokenizer, [s for s, _ in ROWS]) == 0


def test_a_joint_vocabulary_with_a_target_size_is_refused_before_the_data(tmp_path, capsys):
    code = main(["train", "translate", str(tmp_path / "missing.tsv"), "--joint-vocabulary", "--target-vocab-size",
                 "100", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and "--target-vocab-size" in error[0] and not (tmp_path / "run").exists()


def chosen_units(rows, data: DataConfig, pairs: PairsConfig) -> dict[str, str]:
    return {c.field: c.value for c in tokenizer_choices(rows, data, pairs, set())}


@pytest.mark.parametrize("vocab_size", range(4, 14))
def test_a_side_reads_words_exactly_when_a_word_vocabulary_of_its_size_leaves_no_training_word_unknown(vocab_size):
    data = DataConfig(tokenizer="word", vocab_size=vocab_size)
    source, target = fit_pair_tokenizers(ROWS, data, PairsConfig())  # the oracle: fit words, count <unk>
    units = chosen_units(ROWS, data, PairsConfig())
    for side, tokenizer, field in ((0, source, "tokenizer"), (1, target, "target_tokenizer")):
        covered = unknown(tokenizer, [row[side] for row in ROWS]) == 0
        assert units[field] == ("word" if covered else "bpe")
    assert set(chosen_units(ROWS, data, PairsConfig(joint_vocabulary=True))) == {"tokenizer"}


def test_the_target_size_decides_the_target_unit_and_a_given_unit_is_not_chosen():
    wide = DataConfig(tokenizer="word", vocab_size=100)
    assert chosen_units(ROWS, wide, PairsConfig(target_vocab_size=3))["target_tokenizer"] == "bpe"
    assert tokenizer_choices(ROWS, wide, PairsConfig(), {"tokenizer"}) == []
    assert tokenizer_choices(ROWS, wide, PairsConfig(), {"target_tokenizer"}) == []
    assert tokenizer_choices(ROWS, wide, PairsConfig(), None) == []


def test_a_run_reads_each_side_in_its_chosen_unit_and_saves_it(tmp_path, capsys):
    rows = [(f"le {a}", f"w{a}{b} w{b}") for a in "xyz" for b in range(12)]  # few source words, many target
    (tmp_path / "pairs.tsv").write_text("\n".join(f"{s}\t{t}" for s, t in rows * 4) + "\n", encoding="utf-8")
    common = ["train", "translate", str(tmp_path / "pairs.tsv"), *SMALL, "--steps", "1", "--keep-duplicates",
              "--tune-length-penalty", "0", "--vocab-size", "300"]
    assert main([*common, "--target-vocab-size", "20", "--out", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert "auto: --tokenizer word (the source side's" in err and "auto: --target-tokenizer bpe" in err
    run = translate_run.load(tmp_path / "auto")
    assert (run.source_tokenizer.kind, run.target_tokenizer.kind) == ("word", "bpe")
    config = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert (config["data"]["tokenizer"], config["pairs"]["target_tokenizer"]) == ("word", "bpe")
    assert main([*common, "--tokenizer", "word", "--target-vocab-size", "20", "--out", str(tmp_path / "given")]) == 0
    given = translate_run.load(tmp_path / "given")
    assert (given.source_tokenizer.kind, given.target_tokenizer.kind) == ("word", "word")


def test_a_joint_vocabulary_with_its_own_target_unit_is_refused_before_the_data(tmp_path, capsys):
    code = main(["train", "translate", str(tmp_path / "missing.tsv"), "--joint-vocabulary", "--target-tokenizer",
                 "bpe", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and "--target-tokenizer" in error[0] and not (tmp_path / "run").exists()


@pytest.mark.parametrize(("minutes", "width"), [(0.5, 512), (1, 512), (2, 512), (5, 512), (10, 512), (60, 512)])
def test_the_budget_sets_the_width_unless_the_user_chose_it_or_tied_the_embeddings(minutes, width):
    assert [(c.field, c.value) for c in width_choices(minutes, set())] == [("hidden_size", width)]
    assert width_choices(minutes, {"hidden_size"}) == [] and width_choices(minutes, {"tie_weights"}) == []
    assert width_choices(0, set()) == []  # a budget in steps keeps the default


def test_a_long_budget_builds_the_wider_model_says_why_and_saves_it(tmp_path, capsys):
    synthetic_pairs(tmp_path / "pairs.tsv", "reverse", 300, seed=8)
    common = ["train", "translate", str(tmp_path / "pairs.tsv"), "--embedding-size", "8", "--minutes", "30",
              "--steps", "2", "--tune-length-penalty", "0", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "wide")]) == 0
    err = capsys.readouterr().err
    assert "auto: --hidden-size 512 (30 minutes: " in err and "1x512 bidirectional gru" in err
    config = json.loads((tmp_path / "wide" / "config.json").read_text())
    assert config["model"]["hidden_size"] == 512 and config["auto"][0]["field"] == "hidden_size"
    assert translate_run.load(tmp_path / "wide").model.head.in_features == 512
    assert main([*common, "--hidden-size", "16", "--out", str(tmp_path / "given")]) == 0
    config = json.loads((tmp_path / "given" / "config.json").read_text())
    assert config["model"]["hidden_size"] == 16 and "hidden_size" not in [c["field"] for c in config["auto"]]
