"""Sentence pairs for translation: a TSV of ``source<TAB>target`` or two aligned files.

Text is normalised without losing anything a reader would see: Unicode NFC, every
kind of space (French typography's narrow no-break space before ``!`` and ``?``)
as a plain space, the typographic apostrophe as ``'``. Accents stay. Filters by
length and by the target's opening words rebuild the PyTorch tutorial's subset.
A folder holding ``train.tsv`` (and ``valid``/``dev``/``test``) keeps its split;
anything else gets a seeded random split after exact duplicate pairs are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.config import option
from rnnkit.data.corpora import read_text_file
from rnnkit.data.labelled import SPLIT_FILES, split_fractions
from rnnkit.data.tokenizers import normalize
from rnnkit.errors import UserError

Pair = tuple[str, str]  # (source, target)
SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")
# the PyTorch seq2seq tutorial's English openings ("i m" there is "i'm" here: apostrophes are kept)
TUTORIAL_PREFIXES = ("i am ", "i'm ", "he is", "he's ", "she is", "she's ", "you are", "you're ", "we are",
                     "we're ", "they are", "they're ")


@dataclass
class PairsConfig:
    """Where the pairs come from and which are kept."""

    source: str = option("", "translate: a file of source sentences, one per line, aligned with the --target "
                         "file (instead of a TSV of pairs; either may be gzipped)")
    target: str = option("", "translate: the file of target sentences aligned with --source")
    reverse_pairs: bool = option(False, "translate: swap the two sides (the eng-fra TSV is English first; "
                                 "this translates French to English)")
    max_words: int = option(0, "translate: keep pairs whose sides have at most this many words (0: all)")
    prefixes: str = option("", "translate: keep pairs whose target starts with one of these comma-separated "
                           "openings, case-insensitive; 'tutorial' is the PyTorch tutorial's 'i am', 'he is'...")
    joint_vocabulary: bool = option(False, "translate: one tokenizer fitted on both sides' training text, "
                                    "shared by source and target (--vocab-size in all)")
    target_vocab_size: int = option(0, "translate: the target side's vocabulary size when it has its own "
                                    "(0: --vocab-size, which sizes the source side)")
    target_tokenizer: str = option("", "translate: the target side's token unit when it has its own "
                                   "(empty: --tokenizer's, which sets the source side)", ("word", "bpe"))


def clean(text: str) -> str:
    return SPACES.sub(" ", normalize(text).replace("\u2019", "'")).strip()


def read_lines(path: Path, encoding: str) -> list[str]:
    """A file's lines; the checks (missing, empty, binary, encoding, gzip) are ``read_text_file``'s."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file of sentence pairs")
    return read_text_file(path, encoding).splitlines()


def read_tsv(path: Path, encoding: str) -> list[Pair]:
    """``source<TAB>target`` per line (further columns, such as Tatoeba's attribution, are ignored)."""
    pairs = []
    for number, line in enumerate(read_lines(path, encoding), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise UserError(f"{path}:{number}: no tab; each line needs source<TAB>target")
        pairs.append(_pair(fields[0], fields[1], f"{path}:{number}"))
    return pairs


def read_aligned(source: Path, target: Path, encoding: str) -> list[Pair]:
    """Line n of ``source`` with line n of ``target``."""
    left, right = read_lines(source, encoding), read_lines(target, encoding)
    while left and right and not left[-1].strip() and not right[-1].strip():
        left, right = left[:-1], right[:-1]
    if len(left) != len(right):
        raise UserError(f"{source} has {len(left):,} lines and {target} has {len(right):,}; aligned files need "
                        "one sentence per line on both sides")
    return [_pair(a, b, f"{source}:{n} / {target}:{n}") for n, (a, b) in enumerate(zip(left, right, strict=True), 1)]


def _pair(source: str, target: str, where: str) -> Pair:
    pair = clean(source), clean(target)
    if not pair[0] or not pair[1]:
        raise UserError(f"{where}: the {'source' if not pair[0] else 'target'} side is empty; every pair needs "
                        "both sentences")
    return pair


def keep(pairs: list[Pair], config: PairsConfig) -> list[Pair]:
    """The pairs that pass the length and prefix filters (after ``--reverse-pairs``)."""
    if config.reverse_pairs:
        pairs = [(b, a) for a, b in pairs]
    if config.max_words > 0:
        pairs = [p for p in pairs if max(len(p[0].split()), len(p[1].split())) <= config.max_words]
    if config.prefixes:
        wanted = TUTORIAL_PREFIXES if config.prefixes == "tutorial" else tuple(
            p.strip().lower() for p in config.prefixes.split(",") if p.strip())
        pairs = [p for p in pairs if p[1].lower().startswith(wanted)]
    return pairs


def load_pairs(sources: list[str], target_file: str, config: PairsConfig, split: str, keep_duplicates: bool,
               encoding: str, seed: int) -> tuple[dict[str, list[Pair]], str]:
    """Train, validation and test pairs, and one line saying where they came from and what was kept."""
    if config.source or target_file:
        if not (config.source and target_file) or sources:
            raise UserError("give either a TSV of pairs (or a folder with train.tsv), or --source FILE and "
                            "--target FILE, not both")
        read = {"all": read_aligned(Path(config.source), Path(target_file), encoding)}
    elif not sources:
        raise UserError("no data given; pass a TSV of source<TAB>target pairs, a folder with train.tsv, or "
                        "--source FILE --target FILE")
    else:
        read = _read_sources([Path(s) for s in sources], encoding)
    kept = {name: keep(pairs, config) for name, pairs in read.items()}
    total = sum(len(p) for p in read.values())
    if "all" in kept:
        pairs, removed = kept["all"], 0
        if not keep_duplicates:
            unique = list(dict.fromkeys(pairs))
            removed, pairs = len(pairs) - len(unique), unique
        splits = random_split(pairs, split_fractions(split), seed)
        origin = f"random {split} split, seed {seed}; {removed:,} duplicate pairs dropped"
    else:
        splits = dict(kept)
        origin = "the data's own split"
        if "val" not in splits:
            carved = random_split(kept["train"], (0.95, 0.05, 0.0), seed)
            splits["train"], splits["val"] = carved["train"], carved["val"]
            origin += ", less a random 5% of training for validation"
        splits.setdefault("test", [])
    if not splits["train"] or not splits["val"]:
        raise UserError(f"{', '.join(sources) or config.source}: {sum(len(p) for p in kept.values()):,} of "
                        f"{total:,} pairs pass the filters; too few to train and validate (relax --max-words or "
                        "--prefixes)")
    return splits, f"{sum(len(s) for s in splits.values()):,} of {total:,} pairs kept; {origin}"


def _read_sources(paths: list[Path], encoding: str) -> dict[str, list[Pair]]:
    if len(paths) == 1 and paths[0].is_dir():
        found = {}
        for path in sorted(paths[0].iterdir()):
            split = SPLIT_FILES.get(path.name.split(".")[0].lower())
            if split and path.is_file():
                found.setdefault(split, []).extend(read_tsv(path, encoding))
        if "train" not in found:
            raise UserError(f"{paths[0]}: a folder of pairs needs train.tsv (and optionally valid.tsv, test.tsv)")
        return found
    return {"all": [pair for path in paths for pair in read_tsv(path, encoding)]}


def random_split(pairs: list[Pair], fractions: tuple[float, float, float], seed: int) -> dict[str, list[Pair]]:
    """A seeded shuffle cut into train, validation and test; order within each part is the data's."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val, n_test = round(len(pairs) * fractions[1]), round(len(pairs) * fractions[2])
    part = np.zeros(len(pairs), dtype=np.int8)
    part[order[:n_val]], part[order[n_val:n_val + n_test]] = 1, 2
    return {name: [p for p, k in zip(pairs, part, strict=True) if k == index]
            for index, name in enumerate(("train", "val", "test"))}
