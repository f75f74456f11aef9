"""Many to one: padding never changes an answer, scores agree with scikit-learn, runs learn and resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.data.sequences import ShuffledBatches, pad
from rnnkit.eval.classification import classification_scores
from rnnkit.nn import FusedRecurrent, Recurrent
from rnnkit.nn.pooling import pool
from rnnkit.tasks.classify.model import Classifier, ClassifierConfig
from rnnkit.tasks.sections import ModelConfig

TINY = ["--hidden-size", "24", "--embedding-size", "12", "--batch-size", "16", "--eval-every", "20",
        "--warmup-steps", "5", "--progress"]
EAST = ["ka", "ki", "ko", "ta", "to", "mi", "na", "yu"]
WEST = ["ov", "sky", "ev", "in", "ich", "an", "off", "ko"]


def synthetic_names(n: int, seed: int) -> list[tuple[str, str]]:
    """Two made-up "languages" built from different syllables (they share "ko")."""
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(n):
        label, syllables = ("East", EAST) if index % 2 == 0 else ("West", WEST)
        word = "".join(rng.choice(syllables, size=rng.integers(2, 5)))
        examples.append((word.capitalize(), label))
    return examples


def write_class_folder(folder, examples) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for label in sorted({y for _, y in examples}):
        (folder / f"{label}.txt").write_text("\n".join(t for t, y in examples if y == label) + "\n")


def ragged_batch(lengths: list[int], vocab: int = 11, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return pad([rng.integers(1, vocab, size=n) for n in lengths])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("backend", ["fused", "eager"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_an_example_gets_the_same_logits_alone_and_in_a_padded_batch(cell, backend, pooling):
    torch.manual_seed(0)
    model = Classifier(11, 3, ModelConfig(cell=cell, hidden_size=8, embedding_size=5, num_layers=2, backend=backend),
                       ClassifierConfig(bidirectional=True, pooling=pooling)).double().eval()
    ids, lengths = ragged_batch([5, 1, 9, 3])
    batched = model(ids, lengths)
    for row in range(len(lengths)):
        alone = model(ids[row:row + 1, : lengths[row]], lengths[row:row + 1])
        torch.testing.assert_close(batched[row:row + 1], alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_packed_fused_and_masked_unrolled_computation_agree(cell):
    torch.manual_seed(1)
    fused = FusedRecurrent(cell, 4, 6, num_layers=2, bidirectional=True).double()
    unrolled = Recurrent(cell, 4, 6, num_layers=2, bidirectional=True).double()
    unrolled.load_state_dict(fused.state_dict())
    lengths = torch.tensor([7, 2, 5])
    x = torch.randn(3, 7, 4, dtype=torch.float64)
    x[1, 2:] = 1e3  # padding with garbage must not leak anywhere
    out_fused, state_fused = fused(x, None, lengths)
    out_unrolled, state_unrolled = unrolled(x, None, lengths)
    torch.testing.assert_close(out_fused, out_unrolled, rtol=0, atol=1e-12)
    def flat(state):  # (layers * directions * (1 or 2), B, H)
        return torch.stack([t for s in state for t in (s if isinstance(s, tuple) else (s,))])

    torch.testing.assert_close(flat(state_fused), flat(state_unrolled), rtol=0, atol=1e-12)
    assert out_fused[1, 2:].abs().max() == 0
    alone, alone_state = unrolled(x[1:2, :2])  # the short row, unpadded: no lengths at all
    torch.testing.assert_close(out_unrolled[1:2, :2], alone, rtol=0, atol=1e-12)
    torch.testing.assert_close(flat(state_unrolled)[:, 1], flat(alone_state)[:, 0], rtol=0, atol=1e-12)


def test_pooling_by_hand():
    out = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 4)
    lengths = torch.tensor([2, 3])
    last = pool(out, lengths, "last", directions=2)
    assert last[0].tolist() == [4, 5, 2, 3]  # forward half at step 1, reverse half at step 0
    assert pool(out, lengths, "mean")[0].tolist() == [2, 3, 4, 5]
    assert pool(out, lengths, "max")[0].tolist() == [4, 5, 6, 7]


def test_scores_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=300)
    predicted = np.where(rng.random(300) < 0.6, truth, rng.integers(0, 5, size=300))
    predicted[predicted == 4] = 3  # class 4 is never predicted: precision 0 by convention
    labels = list("abcdef")  # class f has no examples at all
    ours = classification_scores(truth, predicted, labels)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truth, predicted, labels=range(6), zero_division=0)
    assert ours["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted), abs=1e-12)
    assert ours["macro_f1"] == pytest.approx(
        metrics.f1_score(truth, predicted, labels=range(6), average="macro", zero_division=0), abs=1e-12)
    for k, label in enumerate(labels):
        row = ours["per_class"][label]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[k], recall[k], f1[k], support[k]), abs=1e-12)
    assert np.array_equal(ours["confusion"], metrics.confusion_matrix(truth, predicted, labels=range(6)))


def test_each_epoch_visits_every_example_once_in_length_sorted_batches():
    lengths = np.random.default_rng(0).integers(1, 60, size=1000)
    batches = ShuffledBatches(lengths, 16, seed=3)
    epoch = [batches.indices(step) for step in range(batches.per_epoch)]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(1000))
    again = ShuffledBatches(lengths, 16, seed=3)
    assert np.array_equal(again.indices(batches.per_epoch + 5), batches.indices(batches.per_epoch + 5))
    assert not np.array_equal(batches.indices(0), batches.indices(batches.per_epoch))  # a new shuffle
    padded = sum(len(b) * lengths[b].max() for b in epoch)
    random_padded = sum(16 * lengths[c].max() for c in np.array_split(np.arange(1000), 63))
    assert padded < 0.7 * random_padded


def train_accuracy(run, examples, weights: str = "model.safetensors") -> float:
    from rnnkit.tasks.classify import run as classify_run

    loaded = classify_run.load(run, weights=weights)
    return classify_run.evaluate(loaded, examples, "train").accuracy


def test_fits_a_tiny_set_and_shuffled_labels_do_not_generalise(tmp_path):
    examples = synthetic_names(400, seed=0)
    train, held_out = examples[:320], examples[320:]
    shuffled_labels = np.random.default_rng(1).permutation([y for _, y in train])
    shuffled = [(text, label) for (text, _), label in zip(train, shuffled_labels, strict=True)]
    for name, data in (("true", train), ("shuffled", shuffled)):
        write_class_folder(tmp_path / name / "train", data)
        write_class_folder(tmp_path / name / "test", held_out)
    results = {}
    for name in ("true", "shuffled"):
        run = tmp_path / f"run-{name}"
        assert main(["train", "classify", str(tmp_path / name / "train"), *TINY, "--steps", "800",
                     "--hidden-size", "64", "--lr", "1e-2", "--dropout", "0", "--split", "0.9,0.1,0",
                     "--eval-every", "100", "--out", str(run)]) == 0
        train_rows = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
        # the last weights: early stopping would pick the shuffled model's earliest, least fitted ones
        fitted = train_accuracy(run, [(r["text"], r["label"]) for r in train_rows], "last.safetensors")
        held = train_accuracy(run, held_out, "last.safetensors")
        results[name] = (fitted, held)
    assert results["true"][0] == 1.0 and results["true"][1] > 0.9
    assert results["shuffled"][0] > 0.9  # it memorises...
    assert results["shuffled"][1] < 0.7  # ...but learns nothing that transfers


def test_word_tokens_fit_a_tiny_sentiment_table(tmp_path):
    good, bad = ["a fine film", "truly great", "great fun", "fine acting"], ["a dull film", "truly awful",
                                                                             "awful fun", "dull acting"]
    table = tmp_path / "reviews.tsv"
    table.write_text("sentence\tlabel\n" + "".join(f"{t}\t1\n" for t in good) + "".join(f"{t}\t0\n" for t in bad))
    run = tmp_path / "run"
    assert main(["train", "classify", str(table), "--tokenizer", "word", *TINY, "--steps", "60",
                 "--lr", "1e-2", "--dropout", "0", "--split", "0.5,0.5,0", "--text-col", "sentence",
                 "--label-col", "label", "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    assert train_accuracy(run, [(r["text"], r["label"]) for r in rows]) == 1.0


def rnnkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names")
    write_class_folder(folder / "data", synthetic_names(300, seed=2))
    run = folder / "run"
    assert main(["train", "classify", str(folder / "data"), *TINY, "--steps", "120", "--lr", "1e-2",
                 "--out", str(run)]) == 0
    return run


def test_predict_and_eval_report_labels_scores_and_a_confusion_matrix(classifier_run, tmp_path):
    result = rnnkit("predict", str(classifier_run), "Kakitomi", "Ivanovsky", "--json", "--top-k", "2")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["labels"][0]["label"] for r in rows] == ["East", "West"]
    assert all(abs(sum(x["probability"] for x in r["labels"]) - 1) < 1e-5 for r in rows)
    picture = tmp_path / "confusion.png"
    scored = rnnkit("eval", str(classifier_run), "--json", "--confusion", str(picture))
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["accuracy"] > 0.9 and 0 < report["macro_f1"] <= 1
    assert report["examples"] == len((classifier_run / "test.jsonl").read_text().splitlines())
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = rnnkit("eval", str(classifier_run))
    assert "macro F1" in text.stdout and "East" in text.stdout


def test_resume_continues_a_classifier_exactly(tmp_path):
    write_class_folder(tmp_path / "data", synthetic_names(200, seed=4))
    common = ["classify", str(tmp_path / "data"), *TINY, "--dropout", "0.2", "--schedule", "constant"]
    assert main(["train", *common, "--steps", "40", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", *common, "--steps", "20", "--out", str(tmp_path / "split")]) == 0
    assert main(["resume", str(tmp_path / "split"), "--steps", "40"]) == 0
    whole, split = (load_file(tmp_path / name / "last.safetensors") for name in ("whole", "split"))
    for key in whole:
        assert torch.equal(whole[key], split[key]), key


def test_bad_classification_inputs_give_one_line_and_exit_code_2(tmp_path, classifier_run, capsys):
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("text\tlabel\ngood\t1\nbad\t0\textra\n")
    one_class = tmp_path / "one"
    one_class.mkdir()
    (one_class / "Only.txt").write_text("a\nb\n")
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("Kakita\tEast\nSmith\tEnglish\n")
    cases = [
        (["train", "classify", str(ragged)], "row 3"),
        (["train", "classify", str(ragged), "--text-col", "review"], "no column 'review'"),
        (["train", "classify", str(one_class)], "two LABEL.txt"),
        (["eval", str(classifier_run), str(unknown)], "'English'"),
        (["predict", str(classifier_run)], "nothing to predict"),
    ]
    first = rnnkit(*cases[0][0])  # the console entry point once; the rest in process
    assert first.returncode == 2 and cases[0][1] in first.stderr, first.stderr
    assert len(first.stderr.strip().splitlines()) == 1, first.stderr
    for args, expected in cases[1:]:
        capsys.readouterr()
        assert main(list(args)) == 2, args
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, (args, err)


def test_class_weights_give_each_class_the_same_total_weight():
    from rnnkit.tasks.classify.task import inverse_frequency_weights

    labels = np.array([0, 0, 0, 1, 2, 2])
    weights = inverse_frequency_weights(labels, 4).numpy()  # class 3 has no examples: weight 0
    assert weights.tolist() == pytest.approx([6 / 12, 6 / 4, 6 / 8, 0.0])  # n / (C * n_c)
    totals = np.bincount(labels, minlength=4) * weights
    assert totals[:3] == pytest.approx([1.5, 1.5, 1.5])


def _reviews(n: int, seed: int) -> list[tuple[str, str]]:
    """Sentences of words whose label is carried by a few of them, as in sentiment data."""
    rng = np.random.default_rng(seed)
    filler = ["the", "film", "a", "story", "was", "it", "of", "and", "plot", "cast", "its", "this"]
    cue = {"pos": ["great", "moving", "funny"], "neg": ["dull", "flat", "tired"]}
    rows = []
    for index in range(n):
        label = "pos" if index % 2 == 0 else "neg"
        words = [*rng.choice(filler, size=rng.integers(6, 14)), str(rng.choice(cue[label]))]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def test_sentences_get_word_tokens_and_the_word_model_names_stay_characters():
    from rnnkit.tasks.choices import WORD_MODEL_SMALL, explain, text_choices

    texts = [t for t, _ in _reviews(300, seed=1)]
    chosen = {c.field: c for c in text_choices(texts, set(), "char")}
    assert chosen["tokenizer"].value == "word" and chosen["vocab_size"].value == 1000
    assert {k: chosen[k].value for k in WORD_MODEL_SMALL} == WORD_MODEL_SMALL
    line = explain(chosen["tokenizer"])
    assert line.startswith("auto: --tokenizer word (lines average ") and line.endswith("pass --tokenizer to choose)")
    assert text_choices([t for t, _ in synthetic_names(300, seed=1)], set(), "char") == []
    assert text_choices(texts, {"tokenizer"}, "char") == []                 # the user's unit wins
    kept = {c.field for c in text_choices(texts, {"tokenizer", "hidden_size"}, "word")}
    assert "hidden_size" not in kept and "tokenizer" not in kept and "embedding_size" in kept


def test_a_classifier_on_sentences_explains_and_saves_its_automatic_choices(tmp_path, capsys):
    table = tmp_path / "reviews.tsv"
    table.write_text("".join(f"{t}\t{y}\n" for t, y in _reviews(400, seed=2)))
    assert main(["train", "classify", str(table), "--no-header", "--steps", "30", "--eval-every", "15",
                 "--hidden-size", "16", "--out", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert "auto: --tokenizer word (lines average" in err and "auto: --hidden-size" not in err
    config = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert config["data"]["tokenizer"] == "word" and config["model"]["hidden_size"] == 16
    assert config["model"]["cell"] == "gru" and config["train"]["lr"] == 2e-3
    assert {c["field"] for c in config["auto"]} >= {"tokenizer", "vocab_size", "embedding_size", "dropout"}
    assert main(["train", "classify", str(table), "--no-header", "--steps", "2", "--tokenizer", "char",
                 "--out", str(tmp_path / "chars")]) == 0
    assert "auto:" not in capsys.readouterr().err
    assert json.loads((tmp_path / "chars" / "config.json").read_text())["auto"] == []


def test_the_best_weights_are_the_mean_of_the_k_checkpoints_that_validated_best(tmp_path):
    write_class_folder(tmp_path / "data", synthetic_names(200, seed=5))
    run = tmp_path / "run"
    assert main(["train", "classify", str(tmp_path / "data"), *TINY, "--steps", "60", "--eval-every", "10",
                 "--average", "3", "--keep", "100", "--patience", "0", "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "val_objective" in line]
    best = sorted((row["val_objective"], row["step"]) for row in rows)[:3]
    chosen = [load_file(run / "checkpoints" / f"step-{step:08d}" / "weights.safetensors") for _, step in best]
    averaged = load_file(run / "model.safetensors")
    for name, value in averaged.items():
        expected = sum(c[name].double() for c in chosen) / 3
        assert torch.allclose(value.double(), expected, atol=1e-6), name
    assert sorted(p.name for p in (run / "best").iterdir()) == [f"step-{s:08d}.safetensors" for s in sorted(
        step for _, step in best)]
