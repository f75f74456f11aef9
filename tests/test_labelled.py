"""Reading labelled data: class folders, tables with or without headers, and honest splits."""

from __future__ import annotations

from collections import Counter

import pytest

from rnnkit.data.labelled import LabelledConfig, load_labelled, read_examples, stratified_split
from rnnkit.errors import UserError


def test_a_class_folder_gives_one_example_per_line_labelled_by_file(tmp_path):
    (tmp_path / "Greek.txt").write_text("Papadopoulos\n\nAlexiou\n")
    (tmp_path / "Czech.txt").write_text("Dvořák\n")
    examples = read_examples(tmp_path, LabelledConfig())
    assert examples == [("Dvořák", "Czech"), ("Papadopoulos", "Greek"), ("Alexiou", "Greek")]


def test_a_header_is_detected_and_columns_are_found_by_name_or_index(tmp_path):
    plain = tmp_path / "plain.tsv"
    plain.write_text('it\'s "fine"\t1\nawful\t0\ngood\t1\n')
    assert read_examples(plain, LabelledConfig()) == [('it\'s "fine"', "1"), ("awful", "0"), ("good", "1")]
    named = tmp_path / "named.csv"
    named.write_text('label,review\npos,"great, really"\nneg,bad\npos,fun\n')
    rows = [("great, really", "pos"), ("bad", "neg"), ("fun", "pos")]
    assert read_examples(named, LabelledConfig(text_col="review", label_col="label")) == rows
    assert read_examples(named, LabelledConfig(text_col="1", label_col="0")) == rows
    assert read_examples(named, LabelledConfig(text_col="1", label_col="0", no_header=True))[0] == (
        "review", "label")


def test_the_split_is_stratified_seeded_and_disjoint():
    examples = [(f"r{i}", "big") for i in range(900)] + [(f"s{i}", "small") for i in range(100)]
    parts = stratified_split(examples, (0.8, 0.1, 0.1), seed=5)
    assert {name: Counter(y for _, y in part) for name, part in parts.items()} == {
        "train": {"big": 720, "small": 80}, "val": {"big": 90, "small": 10}, "test": {"big": 90, "small": 10}}
    assert stratified_split(examples, (0.8, 0.1, 0.1), seed=5) == parts
    assert stratified_split(examples, (0.8, 0.1, 0.1), seed=6) != parts
    seen = [t for part in parts.values() for t, _ in part]
    assert sorted(seen) == sorted(t for t, _ in examples)


def test_duplicates_are_dropped_before_splitting_unless_asked(tmp_path):
    (tmp_path / "A.txt").write_text("x\n" * 50 + "".join(f"a{i}\n" for i in range(20)))
    (tmp_path / "B.txt").write_text("".join(f"b{i}\n" for i in range(20)))
    splits, origin = load_labelled([str(tmp_path)], LabelledConfig(), "utf-8", seed=0)
    assert sum(len(p) for p in splits.values()) == 41 and "49 duplicate" in origin
    kept, _ = load_labelled([str(tmp_path)], LabelledConfig(keep_duplicates=True), "utf-8", seed=0)
    assert sum(len(p) for p in kept.values()) == 90


def test_data_that_comes_split_keeps_its_split(tmp_path):
    rows = "".join(f"text {i}\t{i % 2}\n" for i in range(40))
    (tmp_path / "train.tsv").write_text(rows)
    (tmp_path / "dev.tsv").write_text("held out\t1\nalso held\t0\n")
    splits, origin = load_labelled([str(tmp_path)], LabelledConfig(), "utf-8", seed=0)
    assert splits["test"] == [("held out", "1"), ("also held", "0")]  # GLUE: dev is where results go
    assert len(splits["val"]) == 4 and len(splits["train"]) == 36  # validation carved from train
    assert "dev.tsv" in origin


def test_bad_split_fractions_are_refused(tmp_path):
    (tmp_path / "A.txt").write_text("a\nb\n")
    (tmp_path / "B.txt").write_text("c\nd\n")
    with pytest.raises(UserError, match="--split"):
        load_labelled([str(tmp_path)], LabelledConfig(split="0.9,0.2"), "utf-8", seed=0)
