"""A training report: one self-contained HTML page (and PNGs) read from a run's logs.

The page holds the curves as inline SVG, every validation as a table row, and
every sample in order, so how the model's output changed over training can be
read top to bottom. It needs no network, no scripts and no fonts.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from rnnkit.viz.curves import Curve, Figure, render, smooth

LN2 = math.log(2)
# the validation score each task is judged by, and how to show it
HEADLINES = {"lm": ("bits_per_char", "bits per character"), "lines": ("bits_per_char", "bits per character"),
             "classify": ("macro_f1", "macro-F1"), "forecast": ("mae", "MAE"), "translate": ("bleu", "BLEU")}


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def figures(config: dict, metrics: list[dict]) -> list[Figure]:
    """The report's plots: loss by step and by time, the headline score, learning rate, gradient norm."""
    train = [r for r in metrics if "loss" in r]
    evals = [r for r in metrics if "val_loss" in r]
    task = config.get("task", "lm")
    headline, headline_name = HEADLINES.get(task, ("loss", "loss"))
    scale, unit = 1.0, "loss"
    if task in ("lm", "lines") and evals and evals[-1].get("val_nats_per_token"):
        # training loss is nats per token: the validation's own ratio turns it into bits per character
        scale = evals[-1]["val_bits_per_char"] / evals[-1]["val_nats_per_token"]
        unit = "bits per character"
    train_loss = [r["loss"] * scale for r in train]
    val_loss = [r["val_loss"] * scale for r in evals]
    result = []
    for axis, label in (("step", "step"), ("elapsed", "training time (s)")):
        result.append(Figure(f"loss-by-{'step' if axis == 'step' else 'time'}", f"{unit} against {label}", label,
                             unit, [Curve("training (smoothed)", [r[axis] for r in train], smooth(train_loss)),
                                    Curve("validation", [r[axis] for r in evals], val_loss, "o-")]))
    if headline != "loss" and evals:
        result.append(Figure("headline", f"validation {headline_name}", "step", headline_name,
                             [Curve("validation", [r["step"] for r in evals],
                                    [r[f"val_{headline}"] for r in evals], "o-")]))
    result.append(Figure("learning-rate", "learning rate", "step", "learning rate",
                         [Curve("lr", [r["step"] for r in train], [r["lr"] for r in train])]))
    result.append(Figure("gradient-norm", "gradient norm before clipping", "step", "global norm",
                         [Curve("norm", [r["step"] for r in train], [r["grad_norm"] for r in train])], log_y=True))
    return result


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return html.escape(str(value))


def evaluation_table(evals: list[dict]) -> str:
    scores = sorted({k for r in evals for k in r if k.startswith("val_") and k != "val_objective"})
    keys = ["step", "elapsed", *scores]
    head = "".join(f"<th>{html.escape(k.removeprefix('val_'))}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k, ''))}</td>" for k in keys) + "</tr>" for r in evals)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def samples_section(samples: list[dict]) -> str:
    return "".join(f'<section class="sample"><h3>step {s["step"]:,} &middot; {s.get("elapsed", 0):.0f} s</h3>'
                   f"<pre>{html.escape(s['text'])}</pre></section>" for s in samples)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}h3{font-size:.9em;color:#555;margin:1.2em 0 .3em}
table{border-collapse:collapse;font-size:.85em}td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:right}
pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap;font-size:.85em}svg{max-width:100%;height:auto}
.facts{color:#444}"""


def pictures_section(pictures: list[tuple[str, Path]]) -> str:
    """PNGs made elsewhere (a translator's attention maps), inlined as data URIs."""
    return "".join(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
                   f'{base64.b64encode(path.read_bytes()).decode()}"><figcaption>{html.escape(title)}</figcaption>'
                   "</figure>" for title, path in pictures)


def write_report(run: Path, out: Path, png_dir: Path, attention: list[tuple[str, Path]] | None = None,
                 heading: str = "Attention") -> dict:
    """Write the HTML page to ``out`` and one PNG per figure into ``png_dir``; returns what was written.
    ``attention``: (caption, PNG) pairs shown in their own section."""
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    metrics = read_jsonl(run / "metrics.jsonl")
    samples = read_jsonl(run / "samples.jsonl")
    evals = [r for r in metrics if "val_loss" in r]
    png_dir.mkdir(parents=True, exist_ok=True)
    plots, pngs = [], []
    for figure in figures(config, metrics):
        png = png_dir / f"report-{figure.name}.png"
        plots.append(f"<figure>{render(figure, png)}</figure>")
        pngs.append(png)
    model = config.get("model", {})
    shape = f"{model.get('num_layers', '?')}x{model.get('hidden_size', '?')} {model.get('cell', '?')}"
    facts = (f"task {html.escape(str(config.get('task')))}; {html.escape(shape)}; {len(evals)} validations, "
             f"{len(samples)} samples; last step {max((r['step'] for r in metrics), default=0):,}")
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(run.name)}: "
            f"training report</title><style>{STYLE}</style></head><body><h1>{html.escape(run.name)}: training "
            f"report</h1><p class=\"facts\">{facts}</p><h2>Curves</h2>{''.join(plots)}<h2>Validations</h2>"
            f"{evaluation_table(evals)}"
            + (f"<h2>{html.escape(heading)}</h2>{pictures_section(attention)}" if attention else "")
            + f"<h2>Samples, in order</h2>{samples_section(samples)}</body></html>\n")
    out.write_text(page, encoding="utf-8")
    pngs += [path for _, path in attention or []]
    return {"html": out, "pngs": pngs, "evaluations": len(evals), "samples": len(samples)}
