"""Labelled lines: a folder of LABEL.txt files or a TSV/CSV, split by class.

Two layouts are read. A folder of ``LABEL.txt`` files holds one example per line
(the surnames data: ``Russian.txt``, ``Greek.txt``...). A table has a text column
and a label column. Data that comes split (a folder with ``train.tsv`` and
``dev.tsv`` or ``test.tsv``) keeps its split; anything else is split here,
stratified by class and seeded, after exact duplicates are dropped so no test
example is also a training example.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.config import option
from rnnkit.data.corpora import read_text_file, table_rows
from rnnkit.data.tokenizers import normalize
from rnnkit.errors import UserError

Example = tuple[str, str]  # (text, label); the label is "" for unlabelled lines
SPLIT_FILES = {"train": "train", "dev": "val", "valid": "val", "validation": "val", "val": "val", "test": "test"}
TABLE_SUFFIXES = (".tsv", ".csv")


@dataclass
class LabelledConfig:
    """Where the text and the label sit, and how examples are split."""

    text_col: str = option("0", "table column with the text: a header name or a 0-based index")
    label_col: str = option("-1", "table column with the label: a header name or an index (-1: the last)")
    no_header: bool = option(False, "the table's first row is data (by default a header is detected: a first "
                             "row whose label appears in no other row)")
    keep_duplicates: bool = option(False, "keep repeated (text, label) examples; by default they are dropped "
                                   "before splitting, so no test example is also a training example")
    split: str = option("0.8,0.1,0.1", "train, validation and test fractions when the data is not split")


def read_examples(source: Path, config: LabelledConfig, encoding: str = "utf-8",
                  labelled: bool = True) -> list[Example]:
    """Examples from a class folder, a table, or (``labelled=False``) a plain file of lines."""
    if source.is_dir():
        return _read_class_folder(source, encoding)
    text = read_text_file(source, encoding)
    if not labelled:
        return [(line, "") for line in _lines(text)]
    if source.suffix.lower() not in TABLE_SUFFIXES and "\t" not in text.split("\n", 1)[0]:
        raise UserError(f"{source}: not a table (no tab in the first line, not .tsv or .csv); give a TSV/CSV "
                        "with text and label columns, or a folder of LABEL.txt files")
    return _read_table(source, text, config)


def _lines(text: str) -> list[str]:
    return [line for line in (normalize(raw).strip() for raw in text.splitlines()) if line]


def _read_class_folder(folder: Path, encoding: str) -> list[Example]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt" and not p.name.startswith("."))
    if len(files) < 2:
        raise UserError(f"{folder}: a class folder needs at least two LABEL.txt files (one example per line); "
                        f"found {len(files)}")
    return [(line, path.stem) for path in files for line in _lines(read_text_file(path, encoding))]


def _column(spec: str, header: list[str] | None, width: int, source: Path, flag: str) -> int:
    if header is not None and spec in header:
        return header.index(spec)
    try:
        index = int(spec)
    except ValueError:
        known = f"; the header has {', '.join(header)}" if header else " and the table has no header"
        raise UserError(f"{source}: no column {spec!r} for {flag}{known}") from None
    if not -width <= index < width:
        raise UserError(f"{source}: {flag} {spec} is out of range; rows have {width} columns")
    return index % width


def _read_table(source: Path, text: str, config: LabelledConfig) -> list[Example]:
    delimiter = "," if source.suffix.lower() == ".csv" else "\t"
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    rows = table_rows(text, source, delimiter, quoting)
    width = len(rows[0])
    if width < 2:
        raise UserError(f"{source}: the first row has one column; a table needs text and label columns "
                        f"separated by {'commas' if delimiter == ',' else 'tabs'}")
    label_at = _column(config.label_col, None, width, source, "--label-col") if not _is_name(
        config.label_col) else None
    has_header = not config.no_header and _looks_like_header(rows, label_at)
    header = [cell.strip() for cell in rows[0]] if has_header else None
    text_at = _column(config.text_col, header, width, source, "--text-col")
    label_at = _column(config.label_col, header, width, source, "--label-col")
    examples = []
    for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        if len(row) != width:
            raise UserError(f"{source}: row {number} has {len(row)} columns, the first row {width}; "
                            "fix the row (a stray tab or comma?)")
        text, label = normalize(row[text_at]).strip(), row[label_at].strip()
        if text and label:
            examples.append((text, label))
    return examples


def _is_name(spec: str) -> bool:
    return not spec.lstrip("-").isdigit()


def _looks_like_header(rows: list[list[str]], label_at: int | None) -> bool:
    """A header is a first row whose label appears nowhere below it, above a label column whose
    values repeat (``label`` over rows of 0 and 1)."""
    if label_at is None:  # a column given by name needs a header
        return True
    first = rows[0][label_at].strip()
    below = [row[label_at].strip() for row in rows[1:] if len(row) > label_at]
    return first not in below and len(set(below)) < len(below)


def load_labelled(sources: list[str], config: LabelledConfig, encoding: str, seed: int,
                  labelled: bool = True) -> tuple[dict[str, list[Example]], str]:
    """Train, val and test examples, and one line saying where they came from."""
    if not sources:
        raise UserError("no data given; pass a folder of LABEL.txt files, a TSV/CSV, or a folder with train.tsv")
    paths = [Path(s) for s in sources]
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or folder; check the path")
    split_files = _split_files(paths)
    if split_files:
        splits = {name: [e for p in files for e in read_examples(p, config, encoding, labelled)]
                  for name, files in split_files.items()}
        if "val" not in splits:
            splits["train"], splits["val"] = _carve(splits["train"], 0.1, seed)
        splits.setdefault("test", [])
        named = {k: ", ".join(p.name for p in v) for k, v in split_files.items()}
        origin = (f"training: {named['train']}{'' if 'val' in named else ' less a stratified 10% for validation'}"
                  + (f"; validation: {named['val']}" if "val" in named else "")
                  + f"; test: {named.get('test', 'none')}")
    else:
        examples = [e for p in paths for e in read_examples(p, config, encoding, labelled)]
        removed = 0
        if not config.keep_duplicates:
            unique = list(dict.fromkeys(examples))
            removed, examples = len(examples) - len(unique), unique
        splits = stratified_split(examples, split_fractions(config.split), seed)
        origin = f"stratified {config.split} split, seed {seed}; {removed:,} duplicate examples dropped"
    if not splits["train"] or not splits["val"]:
        raise UserError(f"{', '.join(sources)}: too few examples to train and validate "
                        f"({len(splits['train'])} training, {len(splits['val'])} validation); give more data")
    return splits, origin


def _split_files(paths: list[Path]) -> dict[str, list[Path]]:
    """Files named train/dev/valid/test (given, or inside one given folder), by split."""
    candidates = paths
    if len(paths) == 1 and paths[0].is_dir():
        candidates = [p for p in paths[0].iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES]
    found: dict[str, list[Path]] = {}
    for path in sorted(candidates):
        split = SPLIT_FILES.get(path.stem.lower())
        if split is not None and path.is_file():
            found.setdefault(split, []).append(path)
    if "train" not in found:
        return {}
    if "val" in found and "test" not in found and all(p.stem.lower() == "dev" for p in found["val"]):
        found["test"] = found.pop("val")  # GLUE-style train+dev: dev is where results are reported
    return found


def split_fractions(spec: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in spec.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0 or abs(sum(parts) - 1) > 1e-6 or parts[0] <= 0 or parts[1] <= 0:
        raise UserError(f"--split {spec}: give three fractions that sum to 1, train and validation above 0, "
                        "for example 0.8,0.1,0.1")
    return parts  # type: ignore[return-value]


def stratified_split(examples: list[Example], fractions: tuple[float, float, float],
                     seed: int) -> dict[str, list[Example]]:
    """Each class split in the same proportions, by a seeded shuffle; order within a split is kept."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, (_, label) in enumerate(examples):
        by_label.setdefault(label, []).append(index)
    assignment = np.zeros(len(examples), dtype=np.int8)
    for label in sorted(by_label):
        indices = np.array(by_label[label])[rng.permutation(len(by_label[label]))]
        n_val = int(round(len(indices) * fractions[1]))
        n_test = int(round(len(indices) * fractions[2]))
        assignment[indices[:n_val]] = 1
        assignment[indices[n_val:n_val + n_test]] = 2
    names = ("train", "val", "test")
    return {name: [e for e, a in zip(examples, assignment, strict=True) if a == k] for k, name in enumerate(names)}


def _carve(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    parts = stratified_split(examples, (1 - fraction, fraction, 0.0), seed)
    return parts["train"], parts["val"]


def class_counts(examples: list[Example]) -> Counter:
    return Counter(label for _, label in examples)


def label_ids(examples: list[Example], labels: list[str], source: str) -> np.ndarray:
    """Each example's label as its index in ``labels``; a label outside them is a UserError."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({y for _, y in examples if y not in index})
    if unknown:
        raise UserError(f"{source}: labels {', '.join(map(repr, unknown[:5]))} never appear in the training "
                        f"data (it has {', '.join(labels[:8])}{'...' if len(labels) > 8 else ''}); remove them")
    return np.array([index[y] for _, y in examples], dtype=np.int64)
