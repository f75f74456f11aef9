"""The readers a user's files reach, as fuzz targets: ``target(data, folder)`` writes ``data`` where
the reader looks and reads it. Shared by tests/test_fuzz.py (hypothesis) and benchmarks/fuzz.py
(atheris, coverage-guided). A target returns, or raises ``UserError``; nothing else is allowed.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnkit.data.corpora import read_text_file
from rnnkit.data.labelled import LabelledConfig, read_examples
from rnnkit.data.pairs import read_tsv
from rnnkit.data.timeseries import SeriesConfig, read_series


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def text_file(data: bytes, folder: Path) -> None:
    text = read_text_file(_write(folder, "text.txt", data), "utf-8", "strict")
    assert isinstance(text, str) and text


def labelled_table(data: bytes, folder: Path) -> None:
    examples = read_examples(_write(folder, "data.tsv", data), LabelledConfig())
    assert all(isinstance(text, str) and isinstance(label, str) for text, label in examples)


def sentence_pairs(data: bytes, folder: Path) -> None:
    pairs = read_tsv(_write(folder, "pairs.tsv", data), "utf-8")
    assert all(source and target for source, target in pairs)


def time_series(data: bytes, folder: Path) -> None:
    series = read_series(_write(folder, "series.csv", data), SeriesConfig())
    assert len(series.values) == len(series.times)


def arpa(data: bytes, folder: Path) -> None:
    """parse_arpa's contract is ValueError for a malformed file (its callers name the file)."""
    from rnnkit.ngram.arpa import parse_arpa

    with contextlib.suppress(ValueError):
        parse_arpa(_write(folder, "model.arpa", data))


@functools.cache
def template_run() -> Path:
    """A tiny language-model run with two checkpoint generations, trained once per process."""
    from rnnkit.cli import main

    folder = Path(tempfile.mkdtemp(prefix="rnnkit-fuzz-"))
    (folder / "text.txt").write_text("the cat sat on the mat. " * 200)
    code = main(["train", "lm", str(folder / "text.txt"), "--hidden-size", "8", "--embedding-size", "4",
                 "--batch-size", "4", "--seq-len", "8", "--steps", "2", "--eval-every", "1", "--backend", "fused",
                 "--precision", "fp32", "--no-progress", "--out", str(folder / "run")])
    assert code == 0
    return folder / "run"


def _run_with(name: str, data: bytes, folder: Path) -> Path:
    run = folder / "run"
    shutil.copytree(template_run(), run)
    (run / name).write_bytes(data)
    return run


def _open(run: Path) -> None:
    from rnnkit.tasks import open_run

    loaded = open_run(run)
    assert loaded.run == run


def config_json(data: bytes, folder: Path) -> None:
    _open(_run_with("config.json", data, folder))


def tokenizer_json(data: bytes, folder: Path) -> None:
    _open(_run_with("tokenizer.json", data, folder))


def safetensors_weights(data: bytes, folder: Path) -> None:
    _open(_run_with("model.safetensors", data, folder))


def generation_state(data: bytes, folder: Path) -> None:
    """The newest generation's state.json damaged: resuming reads it, or says which to delete."""
    from rnnkit.tasks.lm import run as lm_run
    from rnnkit.train import generations

    run = folder / "run"
    shutil.copytree(template_run(), run)
    (generations.latest(run).path / generations.SKELETON).write_bytes(data)
    path, final = lm_run.resume(run, {}, "cpu", False)
    assert path == run and "loss" in final


TARGETS: dict[str, Callable[[bytes, Path], None]] = {
    "text file": text_file, "labelled table": labelled_table, "sentence pairs": sentence_pairs,
    "time series": time_series, "arpa": arpa, "config.json": config_json, "tokenizer.json": tokenizer_json,
    "safetensors weights": safetensors_weights, "generation state.json": generation_state,
}


def _seed(name: str) -> bytes:
    run = template_run()
    from rnnkit.train import generations

    files = {"config.json": run / "config.json", "tokenizer.json": run / "tokenizer.json",
             "safetensors weights": run / "model.safetensors",
             "generation state.json": generations.latest(run).path / generations.SKELETON}
    return files[name].read_bytes()


ARPA_SEED = (b"\\data\\\nngram 1=3\nngram 2=2\n\n\\1-grams:\n-0.5\t<s>\t-0.3\n-0.4\ta\t-0.2\n-0.6\t</s>\n\n"
             b"\\2-grams:\n-0.1\t<s> a\n-0.2\ta </s>\n\n\\end\\\n")
DAYS = np.arange(np.datetime64("2001-01-01"), np.datetime64("2001-01-01") + 30)


class _Seeds(dict):
    """Valid inputs per target; the run files are read lazily (they need the template run)."""

    def __missing__(self, name: str) -> bytes:
        value = _seed(name)
        self[name] = value
        return value


SEEDS = _Seeds({
    "text file": b"It was the best of times.\nIt was the worst of times.\n" * 3,
    "labelled table": b"text\tlabel\nthe film was great\tpos\na dull film\tneg\nwhat fun\tpos\n",
    "sentence pairs": b"I am cold.\tJ'ai froid.\nHe is tall.\tIl est grand.\n",
    "time series": ("date,value\n" + "".join(f"{d},{i % 7}.5\n" for i, d in enumerate(DAYS))).encode(),
    "arpa": ARPA_SEED,
})
