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
import torch
from safetensors.torch import load_file

from rnnkit.cli import build_parser, main
from rnnkit.config import flag_name
from rnnkit.tasks import TASKS, open_run, task_of
from rnnkit.tasks.requests import VERBS

# a constant rate: a run resumed to a longer budget keeps the schedule it started with
SMALL = ["--hidden-size", "16", "--batch-size", "8", "--eval-every", "4", "--warmup-steps", "1",
         "--schedule", "constant", "--no-progress"]
EMBEDDED = [*SMALL, "--embedding-size", "8"]
SAMPLED = [*EMBEDDED, "--sample-length", "10"]


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


def make_tagged(folder: Path) -> list[str]:
    rng = np.random.default_rng(4)
    blocks = []
    for _ in range(200):
        words = _words(rng, int(rng.integers(2, 7)))
        blocks.append("".join(f"{w}\t{'B-KA' if w.startswith('ka') else 'O'}\n" for w in words))
    path = folder / "tagged.conll"
    path.write_text("\n".join(blocks))
    return [str(path)]


def make_captions(folder: Path) -> list[str]:
    from caption_data import make_shapes

    make_shapes(folder / "photos", 40)
    return [str(folder / "photos")]


# what each task reads, the flags it trains with here, and each verb's arguments after the run
CONTRACT = {
    "lm": (make_text, SAMPLED, {"sample": ["--length", "20"], "eval": ["DATA"], "viz": ["DATA", "--max-chars", "400"]}),
    "lines": (make_lines, SAMPLED, {"sample": ["--num", "3"], "eval": []}),
    "ngram": (make_text, ["--order", "3"], {"sample": ["--length", "20"], "eval": ["DATA"]}),
    "classify": (make_labelled, EMBEDDED, {"predict": ["kaka", "lolo"], "eval": []}),
    "forecast": (make_series, [*SMALL, "--lookback", "10", "--season", "7", "--ar-order", "5"],
                 {"predict": ["--steps", "2"], "eval": []}),
    "translate": (make_pairs, [*EMBEDDED, "--vocab-size", "100"], {"predict": ["the cat"], "eval": []}),
    "tag": (make_tagged, [*EMBEDDED, "--crf", "--char-hidden-size", "4"], {"predict": ["kalo mi"], "eval": []}),
    "caption": (make_captions, [*EMBEDDED, "--encoder", "patches", "--min-count", "1", "--max-words", "8"],
                {"predict": ["DATA/images/shapes_0000.png"], "eval": []}),
}


def test_every_task_has_a_contract_entry():
    assert set(CONTRACT) == set(TASKS)


def _args(arguments: list[str], data: list[str]) -> list[str]:
    return [a for arg in arguments
            for a in (data if arg == "DATA" else [data[0] + arg[4:]] if arg.startswith("DATA/") else [arg])]


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
    assert main(["train", name, *data, *flags, *budget, "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["task"] == name
    assert task_of(run) is task and open_run(run).run == run
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
        assert main(["resume", str(run)]) == 2
        _one_line_error(capsys)
    else:
        _resumes_exactly(name, data, flags, run, tmp_path / "whole", capsys)
        assert main(["eval", str(run), *_args(verbs["eval"], data)]) == 0
    assert main(["train", name, str(tmp_path / "missing.txt"), *flags, *budget, "--out", str(tmp_path / "bad")]) == 2
    assert "missing.txt" in _one_line_error(capsys)


def _resumes_exactly(name: str, data: list[str], flags: list[str], run: Path, whole: Path, capsys) -> None:
    """Six steps, then three more on resume, end bit for bit where nine steps in one go end."""
    assert main(["resume", str(run), "--steps", "9"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 9
    assert main(["train", name, *data, *flags, "--steps", "9", "--out", str(whole)]) == 0
    resumed, straight = load_file(run / "last.safetensors"), load_file(whole / "last.safetensors")
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key
    capsys.readouterr()


def test_a_flag_of_another_task_is_refused_naming_its_task(tmp_path, capsys):
    data = make_text(tmp_path)
    assert main(["train", "lm", *data, "--condition-on", "label", "--steps", "1", "--out", str(tmp_path / "a")]) == 2
    assert "--condition-on is not a flag of `rnnkit train lm`; it belongs to `rnnkit train lines`" in \
        _one_line_error(capsys)
    assert main(["train", "ngram", *data, "--hidden-size", "8", "--out", str(tmp_path / "b")]) == 2
    assert "--hidden-size is not a flag of `rnnkit train ngram`" in _one_line_error(capsys)
    assert main(["train", "lm", *data, "--no-such-flag", "--out", str(tmp_path / "c")]) == 2
    assert "unrecognised arguments: --no-such-flag" in _one_line_error(capsys)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_the_older_train_forms_still_work_with_a_note(tmp_path, capsys):
    data = make_text(tmp_path)
    assert main(["train", *data, "--task", "ngram", "--order", "2", "--out", str(tmp_path / "a")]) == 0
    assert task_of(tmp_path / "a").name == "ngram"
    assert main(["train", *data, *SAMPLED, "--steps", "2", "--out", str(tmp_path / "b")]) == 0
    assert task_of(tmp_path / "b").name == "lm"
    assert capsys.readouterr().err.count("is the command now") == 2
    assert main(["train", "--resume", str(tmp_path / "b"), "--steps", "3"]) == 0
    assert max(json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").open()) == 3


def _flags_in_help(task: str) -> set[str]:
    parser = build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    sub = next(a for a in train._actions if a.dest == "task").choices[task]
    return {option for action in sub._actions for option in action.option_strings if option.startswith("--")}


@pytest.mark.parametrize("name", list(TASKS))
def test_each_task_offers_its_own_flags_with_its_own_defaults(name):
    task = TASKS[name]
    flags = _flags_in_help(name)
    common = {"--help", "--out", "--device", "--progress", "--no-progress", "--no-cache", "--nproc", "--dist-backend"}
    negated = {"--no-" + flag[2:] for flag in flags}
    assert flags - common - negated == {flag_name(field) for field in task.field_names()}
    own = flags - negated - common  # the task's own settings, beside the launch flags every task has
    assert len(own) < 52  # AWD-LSTM's regularisers brought every recurrent task two more, the lm five;
    # the translator's scaled attention and length-penalty search two more; --average-last one for
    # every task; the translator's tied embeddings and its joint or per-side vocabularies four, input
    # feeding one


def test_task_defaults_are_the_dataclass_defaults_shown_in_help():
    text = " ".join(rnnkit_help("translate").split())
    assert "--cell {rnn,lstm,gru}" in text and "(default: gru)" in text and "(default: 15000)" in text
    assert "--backend {auto,fused,compiled,eager}" in text and "numpy" in " ".join(rnnkit_help("lm").split())
    assert "--condition-on" not in text and "--seq-len" not in text and "--sample-length" not in text
    assert TASKS["translate"].default("vocab_size") == 15000 and TASKS["lm"].default("vocab_size") == 2000
    assert TASKS["classify"].default("lr") == 3e-3 and TASKS["lm"].default("lr") == 1e-2
    assert TASKS["lm"].default("minutes") == 5.0


def rnnkit_help(task: str) -> str:
    parser = build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    return next(a for a in train._actions if a.dest == "task").choices[task].format_help()


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
