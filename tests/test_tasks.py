"""The contract every row of ``TASKS`` keeps, run end to end through the command line.

For each task: a tiny run trains, its directory names the task, every verb it offers
works on it, every verb it does not offer is refused in one line with exit code 2,
a resumable run continues to a new budget and still evaluates, and bad data is
refused in one line. A new task gets all of this by adding its row and a data maker.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.tasks import TASKS, task_of
from rnnkit.tasks.requests import VERBS

SMALL = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "8", "--eval-every", "4",
         "--warmup-steps", "1", "--sample-length", "10", "--no-progress"]


def _words(rng: np.random.Generator, count: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi"]
    return ["".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(count)]


def make_text(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    path = folder / "text.txt"
    path.write_text("\n".join(" ".join(_words(rng, 8)) for _ in range(300)) + "\n")
    return [str(path)]


def make_lines(folder: Path) -> list[str]:
    path = folder / "names.txt"
    path.write_text("\n".join(_words(np.random.default_rng(1), 400)) + "\n")
    return [str(path)]


def make_labelled(folder: Path) -> list[str]:
    rng = np.random.default_rng(2)
    data = folder / "classes"
    data.mkdir()
    for label, vowel in (("east", "a"), ("west", "o")):
        lines = [w.replace("o", vowel).replace("a", vowel) for w in _words(rng, 150)]
        (data / f"{label}.txt").write_text("\n".join(lines) + "\n")
    return [str(data)]


def make_series(folder: Path) -> list[str]:
    days = np.arange(np.datetime64("2001-01-01"), np.datetime64("2001-01-01") + 300)
    values = np.round(10 + 3 * np.sin(np.arange(300) / 5.0), 3)
    path = folder / "series.csv"
    path.write_text("date,value\n" + "".join(f"{d},{v}\n" for d, v in zip(days, values, strict=True)))
    return [str(path)]


def make_pairs(folder: Path) -> list[str]:
    lexicon = {"the": "le", "cat": "chat", "dog": "chien", "sees": "voit", "eats": "mange", "bread": "pain"}
    rng = np.random.default_rng(3)
    english = list(lexicon)
    rows = []
    for _ in range(300):
        sentence = list(rng.choice(english, size=rng.integers(2, 5)))
        rows.append(" ".join(sentence) + "\t" + " ".join(lexicon[w] for w in sentence))
    path = folder / "pairs.tsv"
    path.write_text("\n".join(rows) + "\n")
    return [str(path)]


# what each task reads, the flags it trains with here, and each verb's arguments after the run
CONTRACT = {
    "lm": (make_text, SMALL, {"sample": ["--length", "20"], "eval": ["DATA"], "viz": ["DATA", "--max-chars", "400"]}),
    "lines": (make_lines, SMALL, {"sample": ["--num", "3"], "eval": []}),
    "ngram": (make_text, ["--order", "3"], {"sample": ["--length", "20"], "eval": ["DATA"]}),
    "classify": (make_labelled, SMALL, {"predict": ["kaka", "lolo"], "eval": []}),
    "forecast": (make_series, [*SMALL, "--lookback", "10", "--season", "7", "--ar-order", "5"],
                 {"predict": ["--steps", "2"], "eval": []}),
    "translate": (make_pairs, [*SMALL, "--vocab-size", "100"], {"predict": ["the cat"], "eval": []}),
}


def test_every_task_has_a_contract_entry():
    assert set(CONTRACT) == set(TASKS)


def _args(arguments: list[str], data: list[str]) -> list[str]:
    return [a for arg in arguments for a in (data if arg == "DATA" else [arg])]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rnnkit: error:"), err
    return err


@pytest.mark.parametrize("name", list(TASKS))
def test_task_contract(name, tmp_path, capsys):
    make, flags, verbs = CONTRACT[name]
    task = TASKS[name]
    data = make(tmp_path)
    run = tmp_path / "run"
    budget = ["--steps", "6"] if task.timed else []
    assert main(["train", "--task", name, *data, *flags, *budget, "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["task"] == name
    assert task_of(run) is task
    assert set(verbs) == set(task.verbs)
    for verb, arguments in verbs.items():
        capsys.readouterr()
        assert main([verb, str(run), *_args(arguments, data)]) == 0, verb
        assert capsys.readouterr().out.strip(), f"{verb} printed nothing"
    for verb in set(VERBS) - set(task.verbs):
        arguments = data if verb in ("eval", "viz") else []
        assert main([verb, str(run), *arguments]) == 2
        assert f"has no `{verb}`" in _one_line_error(capsys)
    if task.resume is None:
        assert main(["train", "--resume", str(run)]) == 2
        _one_line_error(capsys)
    else:
        before = load_file(run / "last.safetensors")
        assert main(["train", "--resume", str(run), "--steps", "9"]) == 0
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert max(steps) == 9
        assert any(not (before[k] == v).all() for k, v in load_file(run / "last.safetensors").items())
        capsys.readouterr()
        assert main(["eval", str(run), *_args(verbs["eval"], data)]) == 0
    assert main(["train", "--task", name, str(tmp_path / "missing.txt"), *flags, *budget,
                 "--out", str(tmp_path / "bad")]) == 2
    assert "missing.txt" in _one_line_error(capsys)


def test_a_flag_of_another_task_is_refused_naming_its_task(tmp_path, capsys):
    data = make_text(tmp_path)
    assert main(["train", *data, "--condition-on", "label", "--steps", "1", "--out", str(tmp_path / "a")]) == 2
    assert "--condition-on is not a flag of --task lm; it belongs to --task lines" in _one_line_error(capsys)
    assert main(["train", "--task", "ngram", *data, "--hidden-size", "8", "--out", str(tmp_path / "b")]) == 2
    assert "--hidden-size is not a flag of --task ngram" in _one_line_error(capsys)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


DATA = Path(__file__).parent / "data"


def test_a_run_written_by_release_0_1_0_still_loads_scores_and_samples(capsys):
    """tests/data/lm-run-0.1.0 was trained by rnnkit 0.1.0 (a 1x8 LSTM, 4 steps); its scores on
    tests/data/lm-text.txt were 4.08941 bits per character then, and must stay so."""
    run = DATA / "lm-run-0.1.0"
    assert task_of(run) is TASKS["lm"]
    assert main(["eval", str(run), str(DATA / "lm-text.txt"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert abs(scores["bits_per_char"] - 4.089411650296334) < 1e-5 and scores["tokens"] == 1999
    texts = []
    for _ in range(2):
        assert main(["sample", str(run), "--length", "30", "--seed", "3", "--precision", "fp32"]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and len(texts[0]) >= 30
