"""Every reader a user (or a damaged disk) feeds: a correct result or the one-line error, nothing else.

Hypothesis mutates valid files (flipped, inserted and cut bytes) and also writes
arbitrary bytes and JSON. A reader may return or raise ``UserError``; any other
exception is a bug that would reach the user as a traceback. ``benchmarks/fuzz.py``
runs the same targets coverage-guided for longer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuzz_targets import SEEDS, TARGETS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.errors import UserError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """A valid file with a few bytes flipped, inserted or cut, or (sometimes) anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "insert", "cut", "truncate"]))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


def _only_user_errors(target, data: bytes, folder: Path) -> None:
    try:
        target(data, folder)
    except UserError as err:
        assert "\n" not in str(err), str(err)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_reader_gives_a_result_or_one_line_for_any_damage(name, tmp_path_factory):
    target, seed = TARGETS[name], SEEDS[name]
    target(seed, tmp_path_factory.mktemp("valid"))  # the seed itself reads

    @FUZZ
    @given(mutated(seed))
    def check(data: bytes) -> None:
        _only_user_errors(target, data, tmp_path_factory.mktemp("fuzz"))

    check()


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "generation state.json"])
def test_structured_json_of_the_wrong_shape_gives_one_line(name, tmp_path_factory):
    target = TARGETS[name]

    @FUZZ
    @given(JSON_VALUES)
    def check(value) -> None:
        _only_user_errors(target, json.dumps(value).encode(), tmp_path_factory.mktemp("json"))

    check()


def test_the_targets_cover_every_reader_the_issue_names():
    assert {"text file", "labelled table", "sentence pairs", "time series", "arpa", "config.json",
            "tokenizer.json", "safetensors weights", "generation state.json"} <= set(TARGETS)


@pytest.mark.parametrize(("name", "data"), [
    ("labelled table", b"text\tlabel\nthe fi\rlm\tpos\na dull film\tneg\n"),  # found by benchmarks/fuzz.py
    ("time series", b"date,value\n2001-01-01,1.5\n2001-01-02,2\r.5\n"),       # found by benchmarks/fuzz.py
    ("time series", b"\r"),
])
def test_a_lone_carriage_return_in_a_table_is_read_or_refused_in_one_line(name, data, tmp_path):
    _only_user_errors(TARGETS[name], data, tmp_path)
