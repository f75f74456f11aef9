"""Tagged sentences: CoNLL-U, ``token<TAB>tag`` and the CoNLL-2003 column layout, read as they are.

Three layouts are read without conversion, told apart per file. CoNLL-U (Universal
Dependencies): ten tab-separated columns, ``#`` comments, and the word is the unit,
so the ``N-M`` multiword-token lines and the ``N.1`` empty nodes are skipped. Two
columns, ``token<TAB>tag`` (WNUT-17). Space-separated columns, ``word POS chunk
NER`` with ``-DOCSTART-`` lines (CoNLL-2003). A whitespace-only line ends a
sentence (WNUT-17's training file separates most sentences with a lone tab).
Entity tags in IOB1 (B- only between two adjacent spans of one type) are rewritten
as BIO2 on reading, which leaves BIO2 unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from rnnkit.config import option
from rnnkit.data.corpora import read_text_file
from rnnkit.data.tokenizers import normalize
from rnnkit.errors import UserError

CONLLU_COLUMNS = {"form": 1, "lemma": 2, "upos": 3, "xpos": 4}
DOCSTART = "-DOCSTART-"


class Sentence(NamedTuple):
    words: list[str]
    tags: list[str]
    line: int = 0     # where it starts in its file, and the file, for messages
    source: str = ""


@dataclass
class TaggedConfig:
    """Which column holds the tag, and how long a sentence may be."""

    tag_col: str = option("auto", "the tag's column: an index (0-based, -1 the last), or upos/xpos in CoNLL-U; "
                          "auto: UPOS in CoNLL-U, else the last column")
    max_length: int = option(250, "the most words a sentence may have (a longer one is refused, naming its line)")
    split: str = option("0.8,0.1,0.1", "train, validation and test fractions of the sentences when the files "
                        "are not named train/dev/test")


def read_tagged(path: Path, config: TaggedConfig, encoding: str = "utf-8",
                tagged: bool = True) -> list[Sentence]:
    """Every sentence of one file; ``tagged=False`` reads the words alone (tags are "")."""
    lines = read_text_file(path, encoding).splitlines()
    conllu = _is_conllu(lines)
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    start = width = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            if words:
                sentences.append(_finish(words, tags, start, path, config))
            words, tags = [], []
            continue
        if (conllu and raw.startswith("#")) or raw.split()[0] == DOCSTART:
            continue
        cells = raw.split("\t") if conllu or "\t" in raw else raw.split()
        width = width or len(cells)
        if len(cells) != width:
            raise UserError(f"{path}:{number}: {len(cells)} columns, where the file's first token line has "
                            f"{width}; fix the line (a stray space or tab?)")
        if conllu and not cells[0].isdigit():
            continue  # "3-4" multiword token, "5.1" empty node
        if not words:
            start = number
        word, tag = _cells(cells, conllu, config.tag_col, path, number, tagged)
        words.append(word)
        tags.append(tag)
    if words:
        sentences.append(_finish(words, tags, start, path, config))
    return sentences


def _is_conllu(lines: list[str]) -> bool:
    first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
    cells = first.split("\t")
    return len(cells) == 10 and cells[0].split("-")[0].split(".")[0].isdigit()


def _cells(cells: list[str], conllu: bool, spec: str, path: Path, number: int, tagged: bool) -> tuple[str, str]:
    word = normalize(cells[1] if conllu else cells[0]).strip()
    if not tagged:
        return word, ""
    if len(cells) < 2:
        raise UserError(f"{path}:{number}: one column; a tagged file needs the word and its tag "
                        "(token<TAB>tag, CoNLL-2003 columns or CoNLL-U)")
    return word, cells[_tag_index(spec, conllu, len(cells), path)].strip()


def _tag_index(spec: str, conllu: bool, width: int, path: Path) -> int:
    if spec == "auto":
        return CONLLU_COLUMNS["upos"] if conllu else width - 1
    if spec.lower() in CONLLU_COLUMNS:
        if not conllu:
            raise UserError(f"{path}: --tag-col {spec} names a CoNLL-U column, and this file is not CoNLL-U; "
                            "give an index")
        return CONLLU_COLUMNS[spec.lower()]
    try:
        index = int(spec)
    except ValueError:
        raise UserError(f"--tag-col {spec}: give an index (0-based, -1 the last) or upos/xpos") from None
    if not -width <= index < width or index % width == (1 if conllu else 0):
        raise UserError(f"{path}: --tag-col {spec} is out of range or the word's column; rows have "
                        f"{width} columns")
    return index % width


def _finish(words: list[str], tags: list[str], start: int, path: Path, config: TaggedConfig) -> Sentence:
    if len(words) > config.max_length:
        raise UserError(f"{path}:{start}: a sentence of {len(words)} words, over --max-length "
                        f"{config.max_length}; split it or raise --max-length")
    return Sentence(words, to_bio2(tags, path, start) if any(tags) else tags, start, str(path))


def _entity_shaped(tags) -> bool:
    return all(t == "O" or t[:2] in ("B-", "I-") for t in tags)


def is_bio(tags: list[str] | set[str]) -> bool:
    """An entity tag set: every tag is O, B-TYPE or I-TYPE, and one at least is not O."""
    found = set(tags)
    return bool(found - {"O"}) and _entity_shaped(found)


def to_bio2(tags: list[str], path: Path | None = None, line: int = 0) -> list[str]:
    """IOB1 (and BIO2) as BIO2: an I-X that does not continue an X span starts one, as B-X.

    Tags that are not entity tags (part of speech) pass through; an entity tag without a type
    is refused, naming its line."""
    if not _entity_shaped(tags):
        return tags
    out = []
    for offset, tag in enumerate(tags):
        if tag != "O" and len(tag) < 3:
            where = f"{path}:{line + offset}: " if path else ""
            raise UserError(f"{where}the tag {tag!r} has no type; write it as {tag}TYPE (B-PER, I-LOC)")
        if tag.startswith("I-") and (not out or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


SPLIT_WORDS = {"train": "train", "dev": "val", "valid": "val", "validation": "val", "val": "val", "testa": "val",
               "test": "test", "testb": "test"}


def split_of(path: Path) -> str | None:
    """The split a file's name says it holds: ``en_ewt-ud-dev.conllu`` val, ``wnut17train.conll`` train,
    ``eng.testa`` val (CoNLL-2003's development set), ``emerging.test.annotated`` test."""
    words = [w for w in "".join(c if c.isalpha() else " " for c in path.name.lower()).split()]
    for word in words:
        if word in SPLIT_WORDS:
            return SPLIT_WORDS[word]
    for word in words:  # glued to another word: wnut17train
        for key in ("train", "test", "dev"):
            if key in word:
                return SPLIT_WORDS[key]
    return None


def load_tagged(sources: list[str], config: TaggedConfig, encoding: str, seed: int,
                fractions: tuple[float, float, float]) -> tuple[dict[str, list[Sentence]], str]:
    """Train, val and test sentences, and one line saying where they came from: files named by split
    (given, or in one given folder) keep their split; otherwise sentences are split here, seeded."""
    import numpy as np

    if not sources:
        raise UserError("no data given; pass a tagged file (CoNLL-U, token<TAB>tag or CoNLL-2003 columns), "
                        "or a folder with train/dev/test files")
    paths = [Path(s) for s in sources]
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or folder; check the path")
    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(p for p in paths[0].iterdir() if p.is_file() and not p.name.startswith(".")
                       and not p.name.lower().startswith(("readme", "license")))
    named = {p: split_of(p) for p in paths}
    if "train" in named.values():
        splits = {name: [s for p in paths if named[p] == name for s in read_tagged(p, config, encoding)]
                  for name in ("train", "val", "test")}
        origin = "; ".join(f"{name}: {', '.join(p.name for p in paths if named[p] == name) or 'none'}"
                           for name in ("train", "val", "test"))
        if not splits["val"]:
            order = np.random.default_rng(seed).permutation(len(splits["train"]))
            cut = max(1, len(order) // 10)
            splits["val"] = [splits["train"][i] for i in sorted(order[:cut])]
            splits["train"] = [splits["train"][i] for i in sorted(order[cut:])]
            origin += " (validation: a seeded 10% of train)"
    else:
        sentences = [s for p in paths for s in read_tagged(p, config, encoding)]
        order = np.random.default_rng(seed).permutation(len(sentences))
        n_val, n_test = round(len(order) * fractions[1]), round(len(order) * fractions[2])
        parts = {"val": order[:n_val], "test": order[n_val:n_val + n_test], "train": order[n_val + n_test:]}
        splits = {name: [sentences[i] for i in sorted(parts[name])] for name in ("train", "val", "test")}
        origin = f"a seeded {','.join(map(str, fractions))} split of the sentences, seed {seed}"
    if not splits["train"] or not splits["val"]:
        raise UserError(f"{', '.join(sources)}: too few sentences to train and validate "
                        f"({len(splits['train'])} training, {len(splits['val'])} validation); give more data")
    return splits, origin
