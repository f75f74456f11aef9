"""Corpora larger than memory: read in blocks, fit a tokenizer in one pass, encode to disk in another.

Files are decoded incrementally (a character split across two blocks is decoded whole)
and cut into pieces only where cutting changes nothing (``ANY_CUT``, ``TOKEN_CUT``), so
every piece normalises and tokenises on its own exactly as it would inside the whole
text. A text with no such place for long (one huge line of spaced words without
punctuation, for a word or BPE model) is held whole until one comes. The split into
training and validation text is the in-memory one (``data.split``): by raw character
position.
Peak memory is a few blocks, whatever the corpus size.
"""

from __future__ import annotations

import codecs
import gzip
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.corpora import BUILTIN_CORPORA, DEFAULT_BUILTIN_CHARS, read_builtin
from rnnkit.data.tokenizers import (
    WORD_PATTERN,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    fit_tokenizer,
    normalize,
)
from rnnkit.errors import UserError

BLOCK_BYTES = 1 << 20   # read this much of a file at a time
PIECE_CHARS = 1 << 20   # then cut pieces of about this many characters
SNIFF_BYTES = 8192      # where a NUL byte marks a binary file (as read_text_file checks)
# Where a cut changes nothing. Between two ASCII characters NFC composes nothing, so characters and
# bytes may be cut there. Words and BPE pre-tokens also end after a newline that has a non-space on
# each side, and between an ASCII letter or digit and the punctuation after it (never at an
# apostrophe: "'s" is a token of its own); a whitespace run cannot be cut, as its last space joins
# the next word.
ANY_CUT = re.compile(r"(?<=[\x00-\x7f])(?=[\x00-\x7f])")
TOKEN_CUT = re.compile(r"(?<=\S\n)(?=\S)|(?<=[A-Za-z0-9])(?=[.,;:!?])")

Stream = Callable[[], Iterator[str]]  # a source's text, from the start, each call


def file_blocks(path: Path, encoding: str, errors: str | None, binary_ok: bool | None = None) -> Iterator[str]:
    """``read_text_file``'s text in decoded blocks, refusing the same files with the same messages."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; pass it as a data argument to read every text file in it")
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors or "strict")
    except LookupError:
        raise UserError(f"--encoding {encoding}: unknown encoding; try utf-8 or latin-1") from None
    binary_ok = errors == "surrogateescape" if binary_ok is None else binary_ok
    opener = gzip.open if path.suffix == ".gz" else open
    offset, content = 0, False
    with opener(path, "rb") as handle:
        while True:
            try:
                data = handle.read(BLOCK_BYTES)
            except (OSError, EOFError):
                raise UserError(f"{path}: not a valid gzip file; give it uncompressed or compress it again") from None
            if offset == 0 and not binary_ok and b"\x00" in data[:SNIFF_BYTES] and \
                    not encoding.lower().startswith("utf-16"):
                raise UserError(f"{path}: looks like a binary file (it contains NUL bytes); give a text file")
            content = content or bool(data.strip())
            yield _decode(decoder, data, not data, path, offset, encoding, errors)
            offset += len(data)
            if not data:
                break
    if not content:
        raise UserError(f"{path}: the file is empty; give a text file with some content")


def _decode(decoder, data: bytes, final: bool, path: Path, offset: int, encoding: str, errors: str | None) -> str:
    try:
        return decoder.decode(data, final=final)
    except UnicodeDecodeError as err:
        more = (", or --encoding-errors replace to read such bytes as U+FFFD (--tokenizer byte reads "
                "every byte)") if errors else ""
        raise UserError(f"{path}: byte {offset + err.start} is not valid {encoding}; pass --encoding with the "
                        f"file's encoding (for example --encoding latin-1){more}") from None


def count_chars(stream: Stream) -> int:
    return sum(len(block) for block in stream())


def source_streams(source: str, encoding: str, errors: str | None, max_chars: int | None) -> list[tuple[Stream, int]]:
    """One source's streams and their lengths in characters: a folder's readable files, sorted by path."""
    path = Path(source)
    if not path.exists() and source in BUILTIN_CORPORA:
        text = read_builtin(source, max_chars or DEFAULT_BUILTIN_CHARS)
        return [(lambda: iter([text]), len(text))]
    if not path.is_dir():
        stream = lambda: file_blocks(path, encoding, errors)  # noqa: E731
        return [(stream, count_chars(stream))]
    found = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in file.relative_to(path).parts):
            continue
        stream = (lambda f: lambda: file_blocks(f, encoding, errors, binary_ok=False))(file)
        try:
            found.append((stream, count_chars(stream)))
        except UserError:
            continue  # a folder's binary (or otherwise unreadable) files are skipped, as read_folder does
    if not found:
        raise UserError(f"{path}: no readable text files in this folder; check the path or --encoding")
    return found


@dataclass
class StreamedCorpus:
    """Sources read again on demand: ``pieces(start, end)`` is characters [start, end) of their text."""

    streams: list[Stream]
    chars: int

    @classmethod
    def open(cls, sources: list[str], encoding: str = "utf-8", max_chars: int | None = None,
             errors: str | None = None) -> StreamedCorpus:
        if not sources:
            raise UserError("no data given; pass a text file, a folder, or a built-in corpus "
                            f"({', '.join(BUILTIN_CORPORA)})")
        found = [item for source in sources for item in source_streams(source, encoding, errors, max_chars)]
        total = sum(length for _, length in found)
        return cls([stream for stream, _ in found], total if not max_chars else min(total, max_chars))

    def raw(self, start: int, end: int) -> Iterator[str]:
        position = 0
        for stream in self.streams:
            for block in stream():
                low, high = max(start - position, 0), min(end - position, len(block))
                if low < high:
                    yield block[low:high]
                position += len(block)
                if position >= end:
                    return

    def pieces(self, start: int, end: int, kind: str = "word") -> Iterator[str]:
        """The text in pieces that each tokenise alone (with a ``kind`` tokenizer) as they would in place."""
        buffer = ""
        for block in self.raw(start, end):
            buffer += block
            while len(buffer) >= PIECE_CHARS and (cut := safe_cut(buffer, kind, PIECE_CHARS)) > 0:
                yield buffer[:cut]
                buffer = buffer[cut:]
        if buffer:
            yield buffer


def safe_cut(text: str, kind: str = "word", limit: int | None = None) -> int:
    """The last position up to ``limit`` (default: the end) where a cut changes no token of ``kind``,
    else the first one after it; 0 if ``text`` has none."""
    pattern = ANY_CUT if kind in ("char", "byte") else TOKEN_CUT
    limit = len(text) if limit is None else min(limit, len(text))
    window = 1 << 12
    while True:
        start = max(limit - window, 0)
        last = None
        for last in pattern.finditer(text, start, limit):  # noqa: B007 (the last match is the one wanted)
            pass
        if last is not None and last.start() > 0:
            return last.start()
        if start == 0:
            break
        window *= 8
    after = pattern.search(text, max(limit, 1))
    return after.start() if after is not None and after.start() < len(text) else 0


def fit_streamed(kind: str, pieces: Iterable[str], vocab_size: int) -> Tokenizer:
    """``fit_tokenizer`` over pieces of the training text: the same vocabulary as from the whole text."""
    if kind == "char":
        seen: set[str] = set()
        for piece in pieces:
            seen.update(CharTokenizer.fit(piece).chars)
        return CharTokenizer(list(seen))
    if kind == "word":
        counts: Counter = Counter()
        for piece in pieces:
            counts.update(WORD_PATTERN.findall(normalize(piece)))
        return WordTokenizer.from_counts(counts, max_size=vocab_size)
    if kind == "bpe":
        return BPETokenizer.fit_lines((line for piece in pieces for line in piece.splitlines(keepends=True)),
                                      vocab_size=vocab_size)
    for _ in pieces:
        pass  # the byte tokenizer learns nothing, but the caller watches this pass for the start text
    return fit_tokenizer(kind, "", vocab_size)


def encode_streamed(tokenizer: Tokenizer, pieces: Iterable[str], out: Path, dtype: np.dtype) -> int:
    """Append each piece's ids to the raw file ``out``; returns how many were written."""
    written = 0
    with open(out, "wb") as handle:
        for piece in pieces:
            ids = np.ascontiguousarray(tokenizer.encode(piece), dtype=dtype)
            handle.write(ids.tobytes())
            written += len(ids)
    return written
