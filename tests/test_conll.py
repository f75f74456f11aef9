"""Reading tagged sentences: CoNLL-U, token<TAB>tag and CoNLL-2003 columns, splits, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.conll import TaggedConfig, load_tagged, read_tagged, split_of
from rnnkit.errors import UserError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONLLU = """# sent_id = 1
# text = I'm here.
1-2\tI'm\t_\t_\t_\t_\t_\t_\t_\t_
1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_
2\t'm\tbe\tAUX\tVBP\t_\t0\troot\t_\t_
3\there\there\tADV\tRB\t_\t2\tadvmod\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t2:conj\t_
4\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_

1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_
"""
CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
Jan NNP I-NP B-PER
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_skips_multiword_tokens_and_empty_nodes_and_reads_upos_or_xpos(tmp_path):
    path = _write(tmp_path, "x.conllu", CONLLU)
    first, second = read_tagged(path, TaggedConfig())
    assert first.words == ["I", "'m", "here", "."] and first.tags == ["PRON", "AUX", "ADV", "PUNCT"]
    assert second.words == ["Hi"] and second.line == 10
    assert read_tagged(path, TaggedConfig(tag_col="xpos"))[0].tags == ["PRP", "VBP", "RB", "."]


def test_conll2003_columns_choose_the_tag_and_iob1_becomes_bio2(tmp_path):
    path = _write(tmp_path, "eng.train", CONLL2003)
    (sentence,) = read_tagged(path, TaggedConfig())
    assert sentence.words[:2] == ["EU", "rejects"]
    assert sentence.tags == ["B-ORG", "O", "B-MISC", "O", "B-PER", "I-PER", "B-PER"]
    assert read_tagged(path, TaggedConfig(tag_col="2"))[0].tags[:4] == ["B-NP", "B-VP", "B-NP", "I-NP"]
    assert read_tagged(path, TaggedConfig(tag_col="1"))[0].tags[0] == "NNP"


def test_a_whitespace_only_line_ends_a_sentence(tmp_path):
    path = _write(tmp_path, "w.conll", "a\tO\nb\tB-person\n\t\nc\tO\n \nd\tI-group\n")
    sentences = read_tagged(path, TaggedConfig())
    assert [s.words for s in sentences] == [["a", "b"], ["c"], ["d"]]
    assert sentences[2].tags == ["B-group"]


@pytest.mark.parametrize(("text", "message"), [
    ("a\tO\nb\tB-x\tz\n", "w.conll:2: 3 columns, where the file's first token line has 2"),
    ("a\tO\nb\tI-\n", "w.conll:2: the tag 'I-' has no type"),
    ("a\tO\nb\tO\nc\tO\n", "w.conll:1: a sentence of 3 words, over --max-length 2"),
])
def test_bad_lines_are_refused_naming_the_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, "w.conll", text)
    with pytest.raises(UserError, match=message):
        read_tagged(path, TaggedConfig(max_length=2))


def test_split_files_are_found_by_name_and_anything_else_is_split_by_seed(tmp_path):
    assert [split_of(Path(n)) for n in ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated",
                                        "en_ewt-ud-dev.conllu", "eng.testa", "eng.testb", "corpus.conll")] == \
        ["train", "val", "test", "val", "val", "test", None]
    path = _write(tmp_path, "corpus.conll", "".join(f"w{i}\tO\n\n" for i in range(100)))
    splits, origin = load_tagged([str(path)], TaggedConfig(), "utf-8", 1, (0.8, 0.1, 0.1))
    assert [len(splits[k]) for k in ("train", "val", "test")] == [80, 10, 10] and "seeded" in origin
    again, _ = load_tagged([str(path)], TaggedConfig(), "utf-8", 1, (0.8, 0.1, 0.1))
    assert again == splits


@pytest.mark.skipif(not (DATA / "ud-en-ewt").exists(), reason="needs ../shared/data/ud-en-ewt")
def test_the_ewt_splits_have_their_published_sentence_and_word_counts():
    splits, _ = load_tagged([str(DATA / "ud-en-ewt")], TaggedConfig(), "utf-8", 0, (0.8, 0.1, 0.1))
    assert [len(splits[k]) for k in ("train", "val", "test")] == [12544, 2001, 2077]
    assert [sum(len(s.words) for s in splits[k]) for k in ("train", "val", "test")] == [204577, 25147, 25094]
    assert len({t for s in splits["train"] for t in s.tags}) == 17


@pytest.mark.skipif(not (DATA / "wnut17").exists(), reason="needs ../shared/data/wnut17")
def test_the_wnut17_splits_have_their_published_sentence_counts():
    splits, _ = load_tagged([str(DATA / "wnut17")], TaggedConfig(), "utf-8", 0, (0.8, 0.1, 0.1))
    assert [len(splits[k]) for k in ("train", "val", "test")] == [3394, 1009, 1287]
    kinds = {t[2:] for s in splits["train"] for t in s.tags if t != "O"}
    assert kinds == {"person", "location", "group", "creative-work", "corporation", "product"}
