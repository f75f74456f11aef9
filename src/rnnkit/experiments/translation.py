"""Encoder-decoder variants side by side at an equal time budget, scored with sacreBLEU.

Sutskever et al. (2014) found reversing the source helped a model with no
attention; Cho et al. (2014) fed a fixed summary at every step; Bahdanau et al.
(2014) showed attention holds up on long sentences where a fixed-size summary
fails (their figure 2); beam search helps a little over greedy. Every variant
here trains for the same minutes on the same split, and every score is on the
same held-out pairs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rnnkit.experiments.report import format_table, save

# (label, --attention, --reverse-source)
VARIANTS = (("no attention (Sutskever)", "none", False), ("no attention, source reversed", "none", True),
            ("fixed context (Cho)", "fixed", False), ("additive attention (Bahdanau)", "bahdanau", False),
            ("multiplicative attention (Luong general)", "general", False),
            ("Luong general, source reversed", "general", True))
BEAMS = (1, 2, 5, 12)
QUICK_STEPS = 150


def run(data: list[str], out: Path, quick: bool, minutes: float | None = None, reverse_pairs: bool = False) -> dict:
    from rnnkit.tasks.runs import read_split
    from rnnkit.tasks.translate import run as translate_run

    # the quick version counts steps, not seconds: the same result on a slow or a busy machine
    minutes = minutes if minutes is not None else (0.0 if quick else 3.0)
    steps = QUICK_STEPS if quick and not minutes else 0
    test_size = 200 if quick else 1000
    results: dict = {"data": data, "minutes_each": minutes, "steps_each": steps, "variants": []}
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, attention, reverse in VARIANTS:
            run, final = _train(data, attention, reverse, (minutes, steps), quick, reverse_pairs,
                                Path(tmp) / attention / str(reverse))
            test = _sample(read_split(run, "test", translate_run.PAIR_KEYS), test_size)
            loaded = translate_run.load(run)
            runs[(attention, reverse)] = (loaded, test)
            scores = translate_run.evaluate(loaded, test, _decoding(1))
            results["variants"].append({"label": label, "attention": attention, "reverse_source": reverse,
                                        "steps": final["step"], "bleu": scores.bleu, "chrf": scores.chrf,
                                        "by_length": scores.by_length})
        best = max((v for v in results["variants"] if v["attention"] != "none"), key=lambda v: v["bleu"])
        results["beams"] = {}
        for variant in (results["variants"][0], best):
            loaded, test = runs[(variant["attention"], variant["reverse_source"])]
            results["beams"][variant["label"]] = [translate_run.evaluate(loaded, test, _decoding(k)).bleu
                                                  for k in BEAMS]
    results["test_pairs"] = len(test)
    table = format_table(["model", "steps", "BLEU", "chrF"], [[v["label"], v["steps"], v["bleu"], v["chrf"]]
                                                              for v in results["variants"]])
    table += "\n\n" + format_table(["beam search", *(f"beam {k}" for k in BEAMS)],
                                   [[label, *scores] for label, scores in results["beams"].items()])
    lengths = [row["words"] for row in results["variants"][0]["by_length"]]
    table += "\n\n" + format_table(["BLEU by source words", *lengths], [
        [v["label"], *(next((r["bleu"] for r in v["by_length"] if r["words"] == w), float("nan")) for w in lengths)]
        for v in results["variants"] if not v["reverse_source"]])
    budget = f"{steps} steps" if steps else f"{minutes:g} minutes"
    save(out, "translation", f"test sacreBLEU on {', '.join(data)} ({len(test):,} held-out pairs), {budget} "
         "of training each", table, results, _figure(results))
    return results


def _sample(pairs: list, size: int) -> list:
    """A seeded random ``size`` of the test pairs, in their order (data files are often sorted by length,
    so the first ones would be the shortest)."""
    import numpy as np

    chosen = np.sort(np.random.default_rng(0).permutation(len(pairs))[:size])
    return [pairs[i] for i in chosen]


def _decoding(beam: int):
    from rnnkit.tasks.translate.decoding import Decoding

    return Decoding(beam=beam)


def _train(data: list[str], attention: str, reverse: bool, budget: tuple[float, int], quick: bool,
           reverse_pairs: bool, out: Path) -> tuple[Path, dict]:
    from rnnkit.data.labelled import LabelledConfig
    from rnnkit.data.pairs import PairsConfig
    from rnnkit.tasks.sections import DataConfig, ModelConfig
    from rnnkit.tasks.translate import run as translate_run
    from rnnkit.tasks.translate.model import Seq2SeqConfig
    from rnnkit.train.config import TrainConfig

    size = 64 if quick else 256
    model = ModelConfig(cell="gru", hidden_size=size, embedding_size=size, dropout=0.0 if quick else 0.2)
    minutes, steps = budget
    train = TrainConfig(minutes=minutes, steps=steps, lr=5e-3 if quick else 2e-3, warmup_steps=20, eval_every=10**9)
    data_config = DataConfig(tokenizer="word", vocab_size=15000, batch_size=64)
    return translate_run.train(data, model, Seq2SeqConfig(attention=attention, reverse_source=reverse), train,
                               data_config, PairsConfig(reverse_pairs=reverse_pairs), LabelledConfig(), str(out),
                               "cpu", show_progress=False)


def _figure(results: dict):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for variant in results["variants"]:
        if variant["reverse_source"]:
            continue
        rows = variant["by_length"]
        left.plot([r["words"] for r in rows], [r["bleu"] for r in rows], marker="o", label=variant["label"])
    left.set_xlabel("source sentence length (words)")
    left.set_ylabel("test BLEU")
    left.set_title("BLEU by source length")
    left.legend(fontsize=7)
    for label, scores in results["beams"].items():
        right.plot([str(k) for k in BEAMS], scores, marker="o", label=label)
    right.set_xlabel("beam size")
    right.set_ylabel("test BLEU")
    right.set_title("beam search")
    right.legend(fontsize=7)
    figure.tight_layout()
    return figure
