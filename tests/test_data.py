"""Tokenizers, corpora and TBPTT batching."""

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.batching import StreamBatches, check_fits, compact_ids, split_ids
from rnnkit.data.corpora import read_builtin, read_corpus, read_folder, read_text_file
from rnnkit.data.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    WordTokenizer,
    tokenizer_from_dict,
)
from rnnkit.errors import UserError

texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_char_round_trip_on_any_unicode(text):
    tokenizer = CharTokenizer.fit(text)
    ids = tokenizer.encode(text)
    assert ids.min() >= 1  # every character was seen
    assert tokenizer.decode(ids) == unicodedata.normalize("NFC", text)
    again = tokenizer_from_dict(tokenizer.to_dict())
    assert np.array_equal(again.encode(text), ids)


@settings(max_examples=100, deadline=None)
@given(texts)
def test_word_round_trip_on_any_unicode(text):
    tokenizer = WordTokenizer.fit(text, max_size=10**6)
    assert tokenizer.decode(tokenizer.encode(text)) == unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.fit("the cat sat on the mat; théâtre, Straße, 日本語 " * 50, vocab_size=300)


@settings(max_examples=100, deadline=None)
@given(texts)
def test_bpe_round_trip_on_any_unicode(bpe, text):
    # byte-level BPE never needs <unk>: unseen scripts fall back to bytes
    assert bpe.decode(bpe.encode(text)) == unicodedata.normalize("NFC", text)
    assert tokenizer_from_dict(bpe.to_dict()).encode(text).tolist() == bpe.encode(text).tolist()


def test_unknown_characters_map_to_unk_and_are_reported():
    tokenizer = CharTokenizer.fit("abc")
    assert tokenizer.encode("abz").tolist() == [1, 2, 0]
    assert tokenizer.unknown("zaz€") == ["z", "€"]
    assert tokenizer.decode([0]) == "\ufffd"


def test_nfc_makes_composed_and_decomposed_one_character():
    tokenizer = CharTokenizer.fit("e\u0301")  # e + combining acute
    assert tokenizer.vocab_size == 2 and tokenizer.encode("é").tolist() == [1]


def test_word_vocabulary_cut_off_keeps_the_most_frequent():
    tokenizer = WordTokenizer.fit("a a a b b c", max_size=3)  # " a" and " b" twice, "a" and " c" once
    assert tokenizer.words == [" a", " b"] and tokenizer.vocab_size == 3
    assert tokenizer.encode("a a c").tolist() == [0, 1, 0]


def test_compact_ids_use_the_smallest_type():
    assert compact_ids(np.arange(10), 200).dtype == np.uint8
    assert compact_ids(np.arange(10), 1000).dtype == np.uint16


def test_tbptt_batches_are_contiguous_columns():
    ids = np.arange(1000) % 251
    batches = StreamBatches(ids.astype(np.uint8), batch_size=4, seq_len=7)
    stream = (len(ids) - 1) // 4
    first_x, first_y, starts = batches.batch(0)
    second_x, _, second_starts = batches.batch(1)
    assert starts and not second_starts
    assert torch.equal(first_y[:, :-1], first_x[:, 1:])  # targets are inputs shifted by one
    for b in range(4):
        assert first_x[b, 0] == ids[b * stream]  # column b starts where stream b starts
        assert second_x[b, 0] == first_y[b, -1]  # the next chunk continues the column
    assert torch.equal(batches.batch(batches.chunks)[0], first_x)  # an epoch later, from the top


def test_split_is_positional():
    train, val = split_ids(np.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))


def test_too_short_names_what_fits():
    with pytest.raises(UserError, match=r"--batch-size 6 \(at --seq-len 16\) or --seq-len 12"):
        check_fits(100, 8, 16, "x.txt")


def test_bad_files_are_refused_with_the_fix(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02" * 10)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café olé".encode("latin-1"))
    cases = [(tmp_path / "nope.txt", "no such file"), (empty, "empty"), (binary, "binary"),
             (latin, "--encoding")]
    for path, words in cases:
        with pytest.raises(UserError, match=words) as err:
            read_text_file(path)
        assert str(path) in str(err.value)
    assert read_text_file(latin, "latin-1") == "café olé"


def test_folders_read_sorted_and_skip_binaries(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first ")
    (tmp_path / "c.bin").write_bytes(b"\x00\x01")
    assert read_folder(tmp_path) == "first second"
    assert read_corpus([str(tmp_path / "b.txt"), str(tmp_path / "a.txt")]) == "secondfirst "


def test_python_stdlib_corpus_is_fixed_and_capped():
    text = read_builtin("python-stdlib", 50_000)
    assert len(text) == 50_000
    assert text == read_builtin("python-stdlib", 50_000)
    assert "def " in text and "import" in text


def test_gzip_text_files_read_as_their_contents_and_corrupt_ones_are_refused(tmp_path):
    import gzip

    text = "Ça va ? Très bien.\n" * 20
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    assert read_text_file(tmp_path / "a.txt.gz") == text
    assert read_corpus([str(tmp_path / "a.txt.gz")]) == text
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(UserError, match="not a valid gzip file"):
        read_text_file(tmp_path / "bad.gz")
    (tmp_path / "empty.gz").write_bytes(gzip.compress(b"  \n"))
    with pytest.raises(UserError, match="empty"):
        read_text_file(tmp_path / "empty.gz")


def _almost_utf8(path: Path) -> bytes:
    """UTF-8 text with one stray Latin-1 byte, as real kernel sources have."""
    data = "/* café */\nint main(void) { return 0; }\n".encode() * 200 + b"/* na\xefve */\n" + b"x = 1;\n" * 300
    path.write_bytes(data)
    return data


def test_the_byte_tokenizer_keeps_every_byte_of_an_almost_utf8_file(tmp_path):
    from rnnkit.data.byte_tokenizer import ByteTokenizer
    from rnnkit.data.corpora import read_text_file
    from rnnkit.data.tokenizers import fit_tokenizer, tokenizer_from_dict

    raw = _almost_utf8(tmp_path / "kernel.c")
    text = read_text_file(tmp_path / "kernel.c", "utf-8", "surrogateescape")
    tokenizer = tokenizer_from_dict(fit_tokenizer("byte", text, 0).to_dict())
    assert isinstance(tokenizer, ByteTokenizer) and tokenizer.vocab_size == 257
    ids = tokenizer.encode(text)
    assert np.array_equal(ids - 1, np.frombuffer(raw, dtype=np.uint8))  # the oracle: the file itself
    assert tokenizer.unknown(text) == [] and tokenizer.token_chars(ids) == len(raw)
    assert len(tokenizer.pieces(text)) == len(ids) and "".join(tokenizer.pieces("café")) == "café"
    assert tokenizer.decode(tokenizer.encode("café")) == "café"
    assert tokenizer.decode(ids).count("\ufffd") == 1  # the stray byte, shown as U+FFFD


def test_almost_utf8_text_stops_in_one_line_naming_the_fixes_then_trains_with_them(tmp_path, capsys):
    from rnnkit.cli import main

    stray = _almost_utf8(tmp_path / "kernel.c").index(b"na\xef") + 2
    small = ["--hidden-size", "8", "--embedding-size", "4", "--batch-size", "4", "--seq-len", "8", "--steps", "2",
             "--eval-every", "2", "--no-progress"]
    assert main(["train", "lm", str(tmp_path / "kernel.c"), *small, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"kernel.c: byte {stray} is not valid utf-8" in err
    assert "--encoding-errors replace" in err and "--tokenizer byte" in err
    assert main(["train", "lm", str(tmp_path / "kernel.c"), *small, "--encoding-errors", "replace",
                 "--out", str(tmp_path / "replace")]) == 0
    assert "\ufffd" in json.loads((tmp_path / "replace" / "tokenizer.json").read_text())["chars"]
    assert main(["train", "lm", str(tmp_path / "kernel.c"), *small, "--tokenizer", "byte",
                 "--out", str(tmp_path / "bytes")]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "bytes"), str(tmp_path / "kernel.c"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["characters"] == scores["tokens"] == (tmp_path / "kernel.c").stat().st_size - 1
    assert scores["unknown_tokens"] == 0
    with pytest.raises(SystemExit):  # classifiers read words or characters of labelled lines
        main(["train", "classify", str(tmp_path), "--tokenizer", "byte"])


def test_a_folder_read_as_raw_bytes_keeps_its_almost_utf8_files_and_skips_binary_ones(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    raw = _almost_utf8(folder / "kernel.c")
    (folder / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    text = read_folder(folder, "utf-8", "surrogateescape")
    assert text.encode("utf-8", errors="surrogateescape") == raw
    with pytest.raises(UserError, match="no readable text files"):  # strictly, neither file is text
        read_folder(folder, "utf-8", "strict")
