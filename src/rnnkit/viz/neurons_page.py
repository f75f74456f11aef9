"""One self-contained HTML page of a text coloured by a neuron's activation.

Everything the page needs is inside it: the text's tokens, the chosen neurons'
activations (int8, each neuron scaled by its own largest magnitude), each
position's five most likely next tokens, the neuron finder's table and the gate
saturation picture as a data URI. Its script (``neurons.js``) renders the text
in blocks only while they are near the screen, so a text of hundreds of
thousands of characters stays quick; it fetches nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np

from rnnkit.viz.finder import Match

TOP = 5


@dataclasses.dataclass
class NeuronPage:
    title: str
    pieces: list[str]               # the text, one string per token
    neurons: dict[str, np.ndarray]  # name ("h0:137") -> (T,) activation after each token
    top_ids: np.ndarray             # (T, TOP) most likely next tokens, best first
    top_probs: np.ndarray           # (T, TOP) their probabilities
    vocab: list[str]                # how to show each token id
    matches: list[Match]
    meanings: dict[str, str]        # feature -> what it means
    gate_table: list[dict]          # rows: layer, gate, left, right
    gate_png: bytes | None
    note: str = ""                  # said at the top, e.g. which neurons were left out


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def payload(page: NeuronPage) -> dict:
    names = list(page.neurons)
    values = np.stack([page.neurons[n] for n in names]) if names else np.zeros((0, len(page.pieces)))
    scales = np.abs(values).max(axis=1) if values.size else np.zeros(len(names))
    scales = np.where(scales > 0, scales, 1.0)
    quantised = np.clip(np.rint(values / scales[:, None] * 127), -127, 127).astype(np.int8)
    return {
        "title": page.title, "pieces": page.pieces, "neurons": names, "scales": [float(s) for s in scales],
        "values": _b64(quantised), "vocab": page.vocab, "top": TOP,
        "topIds": _b64(page.top_ids.astype(np.uint32)),
        "topProbs": _b64(np.clip(np.rint(page.top_probs * 65535), 0, 65535).astype(np.uint16)),
        "initial": page.matches[0].neuron if page.matches else (names[0] if names else ""),
    }


def _matches_table(page: NeuronPage) -> str:
    if not page.matches:
        return "<p>No feature varies in this text, so no neuron was ranked.</p>"
    rows = "".join(
        f'<tr><td>{html.escape(m.feature)}</td><td><a href="#{html.escape(m.neuron)}">{html.escape(m.neuron)}</a>'
        f"</td><td>{m.correlation:+.3f}</td><td>{html.escape(page.meanings.get(m.feature, ''))}</td></tr>"
        for m in page.matches)
    return ("<table><thead><tr><th>feature</th><th>neuron</th><th>r</th><th>meaning</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _gates_section(page: NeuronPage) -> str:
    if not page.gate_table:
        return "<p>A vanilla RNN has no gates.</p>"
    rows = "".join(f"<tr><td>{r['layer']}</td><td>{html.escape(r['gate'])}</td><td>{r['left']:.1%}</td>"
                   f"<td>{r['right']:.1%}</td></tr>" for r in page.gate_table)
    image = (f'<img alt="gate saturation" src="data:image/png;base64,{base64.b64encode(page.gate_png).decode()}">'
             if page.gate_png else "")
    return ("<table><thead><tr><th>layer</th><th>gate</th><th>&lt; 0.1</th><th>&gt; 0.9</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{image}")


STYLE = """body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:.5em 1em;z-index:1}
header h1{font-size:1.1em;margin:0 0 .3em}main{padding:0 1em 2em;max-width:70em}
#text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;line-height:1.45;white-space:pre-wrap;
word-break:break-all}#text span{cursor:default}#text span.at{outline:1px solid #000}
#hover{display:flex;gap:1.5em;align-items:flex-start;min-height:7.5em;font-size:.85em}
#predictions{margin:0;padding-left:1.6em;font-family:ui-monospace,monospace}
#predictions li{white-space:pre}.bar{display:inline-block;height:.7em;background:#4a7;margin-left:.4em}
.legend{display:inline-block;width:10em;height:.8em;vertical-align:middle;
background:linear-gradient(to right,rgb(40,90,220),#fff,rgb(220,40,40))}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.15em .6em}
img{max-width:100%}.note{color:#666;font-size:.85em}"""


def render_page(page: NeuronPage) -> str:
    data = json.dumps(payload(page), ensure_ascii=False).replace("<", "\\u003c")
    script = resources.files("rnnkit.viz").joinpath("neurons.js").read_text(encoding="utf-8")
    title = html.escape(page.title)
    note = f'<p class="note">{html.escape(page.note)}</p>' if page.note else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><header><h1>{title}</h1>"
        '<label>neuron <select id="neuron"></select></label> '
        '<span class="legend"></span> <span id="scale"></span>'
        '<div id="hover"><div id="where">point at a character</div><ol id="predictions"></ol></div></header>'
        f'<main>{note}<div id="text"></div><h2>Neurons that track a feature</h2>{_matches_table(page)}'
        f"<h2>Gate saturation</h2>{_gates_section(page)}</main>"
        f'<script type="application/json" id="rnnkit-data">{data}</script><script>{script}</script>'
        "</body></html>\n")


def write_page(page: NeuronPage, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(page), encoding="utf-8")
    return out
