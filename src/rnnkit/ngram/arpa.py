"""ARPA files: the text format KenLM, SRILM and most decoders read, written and read back.

An ARPA model lists, per order, log10 p(w | h) for every listed n-gram hw and a
log10 backoff weight b(h); an unlisted hw scores b(h) + log10 p(w | h'). An
interpolated Kneser-Ney model is exactly of this form (b(h) is its gamma(h)),
and so are the two backoff models; MLE and add-delta are not, and are refused.

Tokens are whitespace-separated in ARPA, so names are escaped: a backslash, a
space, tab, newline and carriage return become ``\\\\ \\s \\t \\n \\r``, any other
whitespace ``\\uXXXX``, and a real token spelled like a marker gets a leading
backslash. A stream model's file also lists ``<s>`` and ``</s>`` (never
predicted) because KenLM requires them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rnnkit.ngram.counts import NGramCounts, OrderTable
from rnnkit.ngram.model import NGramLM
from rnnkit.ngram.query import positions_query
from rnnkit.ngram.stream import TokenStream

MARKERS = ("<s>", "</s>", "<unk>")
NEVER = -99.0  # log10 probability ARPA uses for "impossible"
_ESCAPES = {"\\": "\\\\", " ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPE = re.compile(r"\\(\\|s|t|n|r|u[0-9a-fA-F]{4}|<)")


def escape(name: str) -> str:
    out = "".join(_ESCAPES.get(c, f"\\u{ord(c):04x}" if c.isspace() else c) for c in name)
    return "\\" + out if out in MARKERS else out


def unescape(name: str) -> str:
    def one(match: re.Match) -> str:
        code = match.group(1)
        return {"\\": "\\", "s": " ", "t": "\t", "n": "\n", "r": "\r", "<": "<"}.get(code) or chr(int(code[1:], 16))
    return name if name in MARKERS else _UNESCAPE.sub(one, name)


def token_names(tokenizer, unit: str) -> list[str]:
    """The name of every id of a model over ``tokenizer`` in ``unit``."""
    return [*tokenizer.token_names(), *(["<s>", "</s>"] if unit == "line" else [])]


def write_arpa(model: NGramLM, path: Path, names: list[str]) -> None:
    """Write ``model`` (kn, backoff or naive smoothing) as an ARPA file; ``names`` from ``token_names``."""
    estimator = model.estimator
    if not model.backoff_form:
        raise ValueError(f"{model.smoothing} smoothing has no backoff form; ARPA files hold kn, backoff "
                         "or naive models")
    counts = model.counts
    size = counts.vocab_size
    escaped = [escape(n) if i > 0 and (model.bos is None or i < model.bos) else n for i, n in enumerate(names)]
    lines: list[list[str]] = []
    for k in range(1, model.order + 1):
        table = counts.tables[k - 1]
        words = ngram_tokens(counts, k)
        log10p = model.entry_log10_probs(k)
        backoff = np.log10(estimator.backoff_weights(k)) if k < model.order else None
        if k == 1:  # every vocabulary token is a unigram, seen or not
            log10p, backoff, words = unigram_rows(model, table, log10p, backoff, size)
        rows = []
        for i in range(len(words)):
            text = " ".join(escaped[t] for t in words[i])
            p = log10p[i] if np.isfinite(log10p[i]) else NEVER
            rows.append(f"{p:.7g}\t{text}" + (f"\t{backoff[i]:.7g}" if backoff is not None else ""))
        if k == 1 and model.unit == "stream":
            rows += [f"{NEVER:g}\t<s>" + ("\t0" if model.order > 1 else ""), f"{NEVER:g}\t</s>"]
        lines.append(rows)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\\data\\\n")
        for k, rows in enumerate(lines, start=1):
            handle.write(f"ngram {k}={len(rows)}\n")
        for k, rows in enumerate(lines, start=1):
            handle.write(f"\n\\{k}-grams:\n")
            handle.write("\n".join(rows) + "\n")
        handle.write("\n\\end\\\n")


def unigram_rows(model: NGramLM, table: OrderTable, log10p: np.ndarray, backoff: np.ndarray | None,
                 size: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    with np.errstate(divide="ignore"):
        every = np.log10(model.distribution(np.zeros(0, dtype=np.int64)))
    full_backoff = None
    if backoff is not None:
        full_backoff = np.zeros(size)
        full_backoff[table.tokens(size)] = backoff
    return every, full_backoff, np.arange(size, dtype=np.int64)[:, None]


def ngram_tokens(counts: NGramCounts, k: int) -> np.ndarray:
    """(entries, k) token ids of every n-gram in table k."""
    size = counts.vocab_size
    entry = np.arange(len(counts.tables[k - 1].keys), dtype=np.int64)
    columns = []
    for j in range(k, 0, -1):
        key = counts.tables[j - 1].keys[entry]
        columns.append(key % size)
        entry = key // size
    return np.stack(columns[::-1], axis=1)


class ArpaModel:
    """A backoff model read from an ARPA file, scoring with the backoff rule."""

    def __init__(self, names: list[str], counts: NGramCounts, log10p: list[np.ndarray],
                 log10_backoff: list[np.ndarray]) -> None:
        self.names, self.counts, self.log10p, self.log10_backoff = names, counts, log10p, log10_backoff
        self.index = {n: i for i, n in enumerate(names)}

    @property
    def order(self) -> int:
        return self.counts.order

    @classmethod
    def read(cls, path: Path) -> ArpaModel:
        sections = parse_arpa(path)
        if not sections or "<unk>" not in {w[0] for w in sections[0][1]}:
            raise ValueError(f"{path}: an ARPA file needs a \\1-grams: section listing <unk>")
        names = [unescape(w[0]) if w[0] not in MARKERS else w[0] for w in sections[0][1]]
        index = {w[0]: i for i, w in enumerate(sections[0][1])}
        size = len(names)
        tables, log10p, backoffs = [], [], []
        for k, (probs, words, backoff) in enumerate(sections, start=1):
            ids = np.array([[index[t] for t in w] for w in words], dtype=np.int64).reshape(len(words), k)
            parent = np.zeros(len(ids), dtype=np.int64)
            for j in range(1, k):
                parent = tables[j - 1].find(parent * size + ids[:, j - 1])
            if (parent < 0).any():
                raise ValueError(f"{path}: a {k}-gram's context is not listed among the {k - 1}-grams")
            keys = parent * size + ids[:, -1]
            order = np.argsort(keys, kind="stable")
            tables.append(OrderTable(keys[order], np.zeros(len(keys), np.int64), np.zeros(len(keys), np.int64)))
            log10p.append(np.asarray(probs)[order])
            backoffs.append(np.asarray(backoff)[order])
        return cls(names, NGramCounts(size, tables), log10p, backoffs)

    def ids_for(self, names: list[str]) -> np.ndarray:
        """This file's id for each of ``names`` (another model's vocabulary); unknown ones -> <unk>."""
        return np.array([self.index.get(n, self.index["<unk>"]) for n in names], dtype=np.int64)

    def log10_probs(self, stream: TokenStream, id_map: np.ndarray) -> np.ndarray:
        """log10 p of every scored token of ``stream`` (ids of the model ``id_map`` translates)."""
        ids = id_map[stream.ids]
        query = positions_query(self.counts, ids, stream.reach, np.flatnonzero(stream.scored))
        result = np.zeros(len(query))
        done = np.zeros(len(query), dtype=bool)
        for k in range(self.order, 0, -1):
            entry = query.ngram[k - 1]
            take = ~done & (entry >= 0)
            result[take] += self.log10p[k - 1][entry[take]]
            done |= take
            if k > 1:
                context = query.context[k - 1]
                backs = ~done & (context >= 0)
                result[backs] += self.log10_backoff[k - 2][context[backs]]
        return result


def parse_arpa(path: Path) -> list[tuple[list[float], list[list[str]], list[float]]]:
    """Per order: log10 probabilities, the n-grams' tokens and log10 backoffs (0 where absent)."""
    sections: list[tuple[list[float], list[list[str]], list[float]]] = []
    order = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line or line.startswith("ngram ") or line == "\\data\\":
                    continue
                if line == "\\end\\":
                    break
                match = re.fullmatch(r"\\(\d+)-grams:", line)
                if match:
                    order = int(match.group(1))
                    if order != len(sections) + 1:
                        raise ValueError(f"{path}: \\{order}-grams: out of order")
                    sections.append(([], [], []))
                    continue
                fields = line.split()
                if order == 0 or len(fields) < order + 1:
                    raise ValueError(f"{path}: not an ARPA n-gram line: {line[:60]!r}")
                probs, words, backoff = sections[-1]
                probs.append(float(fields[0]))
                words.append(fields[1:order + 1])
                backoff.append(float(fields[order + 1]) if len(fields) > order + 1 else 0.0)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 ARPA file ({err})") from err
    return sections
