"""A language model's corpus, streamed into the run: split, fitted, encoded, memory-mapped.

The same split, vocabulary and ids as reading the whole text (``run.prepare_data``, which
the tests hold it to), in three passes over the sources: count the characters (where the
last ``--val-fraction`` begins), fit the tokenizer on the training part, encode both parts
into the run's id files. Nothing holds more than a few blocks of text, so a corpus larger
than memory trains as a small one does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from rnnkit.data.batching import check_fits, id_dtype
from rnnkit.data.streaming import StreamedCorpus, encode_streamed, fit_streamed
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.errors import UserError
from rnnkit.tasks.runs import new_run_dir
from rnnkit.tasks.sections import DataConfig
from rnnkit.train import checkpoint


class TrainingText:
    """What the pieces of the training part show in passing: its start text, and whether it has content."""

    def __init__(self) -> None:
        self.first, self.newline, self.content = "", False, False

    def watch(self, pieces: Iterable[str]) -> Iterator[str]:
        for piece in pieces:
            self.first = self.first or piece[:1]
            self.newline = self.newline or "\n" in piece
            self.content = self.content or bool(piece.strip())
            yield piece

    @property
    def start_text(self) -> str:
        """``data.split.start_text_of``: a newline when the text has lines, else its first character."""
        return "\n" if self.newline else self.first


def counted(pieces: Iterable[str], total: int, what: str, show_progress: bool | None) -> Iterator[str]:
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="char", unit_scale=True, desc=what, leave=False,
              disable=None if show_progress is None else not show_progress) as bar:
        for piece in pieces:
            yield piece
            bar.update(len(piece))


def encode_part(corpus: StreamedCorpus, tokenizer: Tokenizer, span: tuple[int, int], path: Path,
                show_progress: bool | None) -> np.ndarray:
    """Characters ``span`` of the corpus encoded into the id file ``path`` (memory-mapped back)."""
    raw = path.with_name(f".{path.name}.raw")
    dtype = id_dtype(tokenizer.vocab_size)
    try:
        pieces = counted(corpus.pieces(*span, tokenizer.kind), span[1] - span[0], f"encoding {path.stem}",
                         show_progress)
        count = encode_streamed(tokenizer, pieces, raw, dtype)
        return checkpoint.save_raw_ids(path, raw, dtype, count)
    finally:
        raw.unlink(missing_ok=True)


def prepare_corpus(sources: list[str], data: DataConfig, run: Path,
                   show_progress: bool | None = None) -> tuple[Tokenizer, np.ndarray, np.ndarray, str]:
    """The tokenizer, the training and validation ids (in ``run``) and the start text."""
    corpus = StreamedCorpus.open(sources, data.encoding, data.max_chars or None, data.decode_errors())
    name = ", ".join(sources)
    cut = int(round(corpus.chars * (1 - data.val_fraction)))
    text = TrainingText()
    pieces = counted(text.watch(corpus.pieces(0, cut, data.tokenizer)), cut, "fitting the tokenizer", show_progress)
    tokenizer = fit_streamed(data.tokenizer, pieces, data.vocab_size)
    if not text.content or corpus.chars - cut < 2:
        raise UserError(f"{name}: {corpus.chars} characters are too few to split into training and validation "
                        "text; give a longer text")
    train_ids = encode_part(corpus, tokenizer, (0, cut), run / checkpoint.TRAIN_IDS, show_progress)
    val_ids = encode_part(corpus, tokenizer, (cut, corpus.chars), run / checkpoint.VAL_IDS, show_progress)
    check_fits(len(train_ids), data.batch_size, data.seq_len, name)
    if len(val_ids) < 2:
        raise UserError(f"{name}: the validation part has under 2 tokens; raise --val-fraction")
    return tokenizer, train_ids, val_ids, text.start_text


def corpus_in_new_run(sources: list[str], data: DataConfig, out: str | None, show_progress: bool | None,
                      ) -> tuple[Path, Tokenizer, np.ndarray, np.ndarray, str]:
    """A new run directory with the corpus encoded in it; if the data is refused (or the user stops
    it), the id files go again, and the folder too when this call made it."""
    made = not (out and Path(out).exists())
    run = new_run_dir(out, sources)
    try:
        return run, *prepare_corpus(sources, data, run, show_progress)
    except BaseException:
        for name in (checkpoint.TRAIN_IDS, checkpoint.VAL_IDS):
            (run / name).unlink(missing_ok=True)
        if made and not any(run.iterdir()):
            run.rmdir()
        raise
