"""Streamed corpora: the same split, vocabulary and ids as the whole text read in memory, in bounded memory."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rnnkit.data import streaming
from rnnkit.data.streaming import StreamedCorpus, safe_cut
from rnnkit.data.tokenizers import normalize
from rnnkit.errors import UserError
from rnnkit.tasks.lm.corpus import prepare_corpus
from rnnkit.tasks.lm.run import prepare_data
from rnnkit.tasks.sections import DataConfig

WORDS = ["naïve", "café", "e\u0301te\u0301", "Straße", "日本語", "😀", "don't", "x", "  ", "\t", "...", "42"]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 97 bytes and pieces of about 300 characters: hundreds of boundaries in a small text."""
    monkeypatch.setattr(streaming, "BLOCK_BYTES", 97)
    monkeypatch.setattr(streaming, "PIECE_CHARS", 300)


def generated_text(seed: int, words: int) -> str:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(WORDS, size=words)
    breaks = rng.choice(["", " ", " ", "\n", "\n\n", " \n"], size=words)
    return "".join(w + b for w, b in zip(chosen, breaks, strict=True))


def test_safe_cuts_fall_only_where_no_token_changes():
    assert safe_cut("ab\ncd\nef") == 6
    assert safe_cut("ab\n cd \nef \n") == 0  # every newline has a space beside it, or ends the text
    assert safe_cut("a\n\nb") == 0 and safe_cut("\nab") == 0 and safe_cut("don't go") == 0
    assert safe_cut("one, two! three") == 8
    assert safe_cut("e\u0301 ab", "char") == 4 and safe_cut("ae\u0301", "char") == 1  # never before a mark


@pytest.mark.parametrize("tokenizer", ["char", "word", "bpe", "byte"])
def test_streamed_ids_equal_the_whole_text_encoded_in_memory(tmp_path, small_blocks, tokenizer):
    """A folder of two files (and a binary one it skips), multi-byte characters and combining marks
    straddling block boundaries, --max-chars cutting the second file: every id as in memory."""
    folder = tmp_path / "texts"
    folder.mkdir()
    first = "e" * 96 + "\u0301 " + generated_text(1, 1500)  # the mark's first byte is byte 97
    (folder / "a.txt").write_text(first, encoding="utf-8")
    (folder / "b.txt").write_text("é" * 48 + generated_text(2, 1500), encoding="utf-8")  # é across byte 97
    (folder / "c.bin").write_bytes(b"\x00\x01binary")
    data = DataConfig(tokenizer=tokenizer, vocab_size=300, max_chars=len(first) + 5000, batch_size=4, seq_len=8)
    run = tmp_path / "run"
    run.mkdir()
    streamed = prepare_corpus([str(folder)], data, run, show_progress=False)
    whole = prepare_data([str(folder)], data)
    assert streamed[0].to_dict() == whole[0].to_dict()
    np.testing.assert_array_equal(streamed[1], whole[1])
    np.testing.assert_array_equal(streamed[2], whole[2])
    assert streamed[1].dtype == whole[1].dtype and streamed[3] == whole[3]
    assert isinstance(streamed[1], np.memmap)  # read back from the run's file, not held


def test_a_gzip_file_streams_and_a_bad_byte_is_named_at_its_place(tmp_path, small_blocks):
    text = generated_text(3, 400)
    (tmp_path / "t.txt.gz").write_bytes(gzip.compress(text.encode()))
    assert "".join(StreamedCorpus.open([str(tmp_path / "t.txt.gz")]).pieces(0, 10**9)) == text
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a" * 500 + b"\xff" + b"b" * 10)
    with pytest.raises(UserError, match=r"bad.txt: byte 500 is not valid utf-8"):
        StreamedCorpus.open([str(bad)])
    (tmp_path / "blank.txt").write_text(" \n" * 200)
    with pytest.raises(UserError, match="the file is empty"):
        StreamedCorpus.open([str(tmp_path / "blank.txt")])


def test_a_refused_corpus_leaves_no_run_behind(tmp_path, capsys):
    from rnnkit.cli import main

    (tmp_path / "tiny.txt").write_text("ab")
    assert main(["train", "lm", str(tmp_path / "tiny.txt"), "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "too few" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_peak_memory_while_encoding_does_not_grow_with_the_corpus(tmp_path):
    """A 64 MB corpus through all three passes in a fresh process: the peak RSS grows by under 64 MB over
    what the imports take (the text alone, held as Python keeps it, would be 64 MB, its code points
    256 MB more)."""
    corpus = tmp_path / "big.txt"
    line = (generated_text(4, 2000).replace("\n", " ") + "\n").encode()
    with open(corpus, "wb") as handle:
        for _ in range(64 * 2**20 // len(line) + 1):
            handle.write(line)
    script = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        from rnnkit.tasks.lm.corpus import prepare_corpus
        from rnnkit.tasks.sections import DataConfig
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run = Path({str(tmp_path / "run")!r}); run.mkdir()
        tokenizer, train, val, _ = prepare_corpus([{str(corpus)!r}], DataConfig(), run, show_progress=False)
        print(len(train) + len(val), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    tokens, growth_mb = map(int, result.stdout.split())
    assert tokens == len(normalize(corpus.read_text(encoding="utf-8"))) and growth_mb < 64, (tokens, growth_mb)
