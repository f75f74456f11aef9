"""The training report: every validation and every sample, valid self-contained HTML, PNGs beside it."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import pytest

from rnnkit.cli import main
from rnnkit.viz.report import figures, read_jsonl

VOID = {"meta", "br", "img", "hr", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class TagBalance(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass  # <path ... /> in SVG

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
        else:
            self.open.pop()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, shakespeare_slice):
    run = tmp_path_factory.mktemp("report") / "run"
    assert main(["train", "lm", str(shakespeare_slice), "--hidden-size", "32", "--batch-size", "8", "--seq-len", "16",
                 "--eval-every", "10", "--sample-length", "30", "--warmup-steps", "2", "--steps", "40",
                 "--out", str(run), "--no-progress"]) == 0
    return run


def test_the_report_holds_every_validation_and_every_sample_in_order(finished_run):
    assert main(["report", str(finished_run)]) == 0
    page = (finished_run / "report.html").read_text(encoding="utf-8")
    evaluations = [r for r in read_jsonl(finished_run / "metrics.jsonl") if "val_loss" in r]
    samples = read_jsonl(finished_run / "samples.jsonl")
    assert [r["step"] for r in evaluations] == [10, 20, 30, 40]
    table = page[page.index("<table>"):page.index("</table>")]
    for record in evaluations:
        assert f"<td>{record['step']}</td>" in table
        assert f"{record['val_bits_per_char']:.4f}" in table
    positions = [page.index(f"<pre>{html.escape(s['text'])}</pre>") for s in samples]
    assert len(positions) == len(samples) == 4 and positions == sorted(positions)
    checker = TagBalance()
    checker.feed(page)
    assert not checker.errors and not checker.open
    assert "http" not in page and "<script" not in page  # nothing to fetch, nothing to run
    for name in ("loss-by-step", "loss-by-time", "learning-rate", "gradient-norm", "headline"):
        assert (finished_run / f"report-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_loss_is_shown_in_the_validation_unit(finished_run):
    config = json.loads((finished_run / "config.json").read_text())
    metrics = read_jsonl(finished_run / "metrics.jsonl")
    by_step = figures(config, metrics)[0]
    validation = by_step.curves[1]
    evaluations = [r for r in metrics if "val_loss" in r]
    assert validation.y == pytest.approx([r["val_bits_per_char"] for r in evaluations])
    assert by_step.ylabel == "bits per character"


def test_report_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not an rnnkit run" in capsys.readouterr().err
