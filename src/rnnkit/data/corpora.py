"""Reading text: the user's files and folders, and the built-in corpora.

Every problem a user can cause here is a ``UserError`` that names the file and
the fix, because this is where most first runs go wrong.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from rnnkit.errors import UserError

DEFAULT_BUILTIN_CHARS = 3_000_000
_SNIFF_BYTES = 8192


def python_stdlib_files() -> Iterator[Path]:
    """The running Python's standard library sources, in a fixed (sorted) order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "__pycache__"}
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        if not skip.intersection(path.relative_to(root).parts):
            yield path


BUILTIN_CORPORA = {
    "python-stdlib": (
        f"the .py sources of Python {sys.version_info.major}.{sys.version_info.minor}'s standard "
        "library, concatenated in sorted order (Karpathy's Linux-source experiment, offline)",
        python_stdlib_files,
    ),
}


def read_builtin(name: str, max_chars: int | None = DEFAULT_BUILTIN_CHARS) -> str:
    """Concatenate a built-in corpus up to ``max_chars`` characters (None: all of it)."""
    _, files = BUILTIN_CORPORA[name]
    parts, total = [], 0
    for path in files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a handful of stdlib test files are deliberately not UTF-8
        parts.append(text)
        total += len(text)
        if max_chars is not None and total >= max_chars:
            break
    text = "".join(parts)
    return text if max_chars is None else text[:max_chars]


def read_text_file(path: Path, encoding: str = "utf-8", errors: str | None = None,
                   binary_ok: bool | None = None) -> str:
    """Read one file (gzip-compressed when its name ends in .gz), refusing empty, binary and
    wrongly encoded ones with a fix. ``errors`` is the decoder's handler for a caller that offers
    ``--encoding-errors`` (None: strict, and no such flag to suggest); ``surrogateescape`` keeps
    every byte for the byte tokenizer, binary too unless ``binary_ok`` is False (a folder's)."""
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; pass it as a data argument to read every text file in it")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            raise UserError(f"{path}: not a valid gzip file; give it uncompressed or compress it again") from None
    if not data.strip():
        raise UserError(f"{path}: the file is empty; give a text file with some content")
    if binary_ok is None:
        binary_ok = errors == "surrogateescape"
    if not binary_ok and b"\x00" in data[:_SNIFF_BYTES] and not encoding.lower().startswith("utf-16"):
        raise UserError(f"{path}: looks like a binary file (it contains NUL bytes); give a text file")
    try:
        return data.decode(encoding, errors or "strict")
    except UnicodeDecodeError as err:
        more = (", or --encoding-errors replace to read such bytes as U+FFFD (--tokenizer byte reads "
                "every byte)") if errors else ""
        raise UserError(f"{path}: byte {err.start} is not valid {encoding}; pass --encoding with the file's "
                        f"encoding (for example --encoding latin-1){more}") from None
    except LookupError:
        raise UserError(f"--encoding {encoding}: unknown encoding; try utf-8 or latin-1") from None


def read_folder(folder: Path, encoding: str = "utf-8", errors: str | None = None) -> str:
    """Every non-hidden text file under ``folder``, sorted by path; binary files are skipped."""
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            texts.append(read_text_file(path, encoding, errors, binary_ok=False))
        except UserError:
            continue  # a folder's binary (or otherwise unreadable) files are skipped
    if not texts:
        raise UserError(f"{folder}: no readable text files in this folder; check the path or --encoding")
    return "".join(texts)


def read_corpus(sources: list[str], encoding: str = "utf-8", max_chars: int | None = None,
                errors: str | None = None) -> str:
    """Read and concatenate files, folders and built-in corpus names, in the order given."""
    if not sources:
        raise UserError("no data given; pass a text file, a folder, or a built-in corpus "
                        f"({', '.join(BUILTIN_CORPORA)})")
    texts = []
    for source in sources:
        path = Path(source)
        if not path.exists() and source in BUILTIN_CORPORA:
            texts.append(read_builtin(source, max_chars or DEFAULT_BUILTIN_CHARS))
        elif path.is_dir():
            texts.append(read_folder(path, encoding, errors))
        else:
            texts.append(read_text_file(path, encoding, errors))
    text = "".join(texts)
    return text if max_chars is None else text[:max_chars]


def read_lines_given(texts: list[str], file: Path | None) -> list[str]:
    """The texts given as arguments, then every non-blank line of ``file``."""
    extra = [line.strip() for line in read_text_file(file).splitlines() if line.strip()] if file else []
    return list(texts) + extra


def table_rows(text: str, source: Path, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> list[list[str]]:
    """The non-empty rows of a CSV/TSV text, any line ending (a lone CR too); a malformed table or
    one without rows is a one-line error naming the file."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
                if row]
    except csv.Error as err:
        raise UserError(f"{source}: not a well-formed table ({err}); check its quoting and line endings") from None
    if not rows:
        raise UserError(f"{source}: no rows; give a table with a header or data rows")
    return rows
