"""The tagger end to end: a task that needs both directions, every feature and head, predict and eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.nn.config import LAYER_TYPES
from rnnkit.tasks.sections import ModelConfig
from rnnkit.tasks.tag.model import Tagger, TaggerConfig
from rnnkit.tasks.tag.vocab import TagVocab, collate

WORDS = [f"w{i}" for i in range(16)]
MARKED = set(WORDS[:8])
FAST = ["--hidden-size", "32", "--embedding-size", "16", "--char-features", "none", "--dropout", "0",
        "--unk-replace", "0", "--batch-size", "32", "--lr", "1e-2", "--warmup-steps", "10", "--no-progress"]


def _neighbour_tags(words: list[str]) -> list[str]:
    """A word's tag says whether the word before it and the word after it are marked: a model must
    read both ways to know it."""
    padded = ["", *words, ""]
    return [f"{int(padded[i - 1] in MARKED)}{int(padded[i + 1] in MARKED)}" for i in range(1, len(words) + 1)]


def make_neighbour_data(folder: Path, sentences: int = 1500) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    for name, count in (("train", sentences), ("dev", 200), ("test", 300)):
        blocks = []
        for _ in range(count):
            words = [str(w) for w in rng.choice(WORDS, size=rng.integers(4, 10))]
            blocks.append("".join(f"{w}\t{t}\n" for w, t in zip(words, _neighbour_tags(words), strict=True)))
        (folder / f"{name}.conll").write_text("\n".join(blocks))
    return folder


def _test_accuracy(run: Path, capsys) -> float:
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["accuracy"]


def test_the_bidirectional_tagger_learns_a_tag_of_both_neighbours_and_one_direction_cannot(tmp_path, capsys):
    data = make_neighbour_data(tmp_path / "data")
    both, forward = tmp_path / "both", tmp_path / "forward"
    assert main(["train", "tag", str(data), *FAST, "--steps", "300", "--eval-every", "150", "--out", str(both)]) == 0
    assert main(["train", "tag", str(data), *FAST, "--steps", "300", "--eval-every", "150", "--no-bidirectional",
                 "--out", str(forward)]) == 0
    assert _test_accuracy(both, capsys) > 0.99
    assert _test_accuracy(forward, capsys) < 0.8


def test_predict_prints_columns_or_json_and_reads_a_conll_file(tmp_path, capsys):
    data = make_neighbour_data(tmp_path / "data", 300)
    run = tmp_path / "run"
    assert main(["train", "tag", str(data), *FAST, "--steps", "5", "--eval-every", "5", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "w1 w9 w3", "--file", str(data / "test.conll"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["words"] == ["w1", "w9", "w3"] and len(rows[0]["tags"]) == 3 and len(rows) == 301
    assert main(["predict", str(run), "w1 w2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["w1", "w2"]
    assert main(["eval", str(run), str(data / "dev.conll")]) == 0
    assert "token accuracy" in capsys.readouterr().out and (run / "confusion-dev.png").stat().st_size > 1000


@pytest.mark.parametrize(("text", "message"), [
    ("w1\t00\nw2\tXX\n", "bad.conll:1: the sentence here has the tag 'XX', which the training data never has"),
    ("w1\t00\nw2\t00\tz\n", "bad.conll:2: 3 columns, where the file's first token line has 2"),
])
def test_eval_refuses_an_unknown_tag_or_a_bad_file_in_one_line(tmp_path, capsys, text, message):
    data = make_neighbour_data(tmp_path / "data", 300)
    run = tmp_path / "run"
    assert main(["train", "tag", str(data), *FAST, "--steps", "2", "--eval-every", "2", "--out", str(run)]) == 0
    (tmp_path / "bad.conll").write_text(text)
    capsys.readouterr()
    code = main(["eval", str(run), str(tmp_path / "bad.conll")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err


def test_constrain_bio_needs_the_crf_and_entity_tags(tmp_path, capsys):
    data = make_neighbour_data(tmp_path / "data", 100)
    assert main(["train", "tag", str(data), *FAST, "--steps", "2", "--crf", "--constrain-bio",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--constrain-bio needs --crf and BIO entity tags" in capsys.readouterr().err


@pytest.mark.parametrize("chars", ["lstm", "cnn", "none"])
@pytest.mark.parametrize("backend", ["fused", "eager"])
def test_every_feature_head_and_backend_tags_a_padded_batch_as_each_sentence_alone(chars, backend):
    sentences = [(["The", "cat", "sat"], ["O", "B-X", "I-X"]), (["A", "dog"], ["O", "B-Y"]), (["Hi"], ["O"])]
    vocab = TagVocab.fit(sentences, lowercase=True)
    torch.manual_seed(0)
    for crf in (False, True):
        model = Tagger(len(vocab.words), len(vocab.chars), vocab.tags,
                       ModelConfig(hidden_size=8, embedding_size=6, backend=backend, num_layers=2),
                       TaggerConfig(char_features=chars, char_embedding_size=5, char_hidden_size=4, crf=crf,
                                    constrain_bio=crf, lowercase=True)).eval()
        assert isinstance(model.recurrent, LAYER_TYPES[backend])
        encoded = [vocab.encode(w, t) for w, t in sentences]
        batch = collate(encoded)
        together = model.emissions(batch)
        for row, sentence in enumerate(encoded):
            alone = model.emissions(collate([sentence]))
            torch.testing.assert_close(together[row, :len(sentence.words)], alone[0], atol=1e-5, rtol=1e-5)
        loss = model.loss(batch)
        loss.backward()
        assert torch.isfinite(loss) and model.embedding.weight.grad is not None
        assert model.decode(batch).shape == batch.words.shape
