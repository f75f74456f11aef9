"""Language models on ONNX Runtime and with int8 weights: the same text, nearly the same scores."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from rnnkit.cli import main

RUNTIMES = [["--runtime", "onnx"], ["--quantize", "int8"], ["--runtime", "onnx", "--quantize", "int8"]]


@pytest.fixture(scope="module")
def run_copy(tiny_lm_run, tmp_path_factory):
    """The tiny run copied, since ONNX Runtime writes its graphs into RUN/onnx."""
    run = tmp_path_factory.mktemp("runtimes") / "run"
    shutil.copytree(tiny_lm_run, run)
    return run


def _bits(capsys, *args: str) -> float:
    capsys.readouterr()
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["bits_per_char"]


def test_int8_and_onnx_score_within_1_percent_of_fp32_and_onnx_fp32_equals_torch(run_copy, shakespeare_slice,
                                                                                 capsys):
    plain = _bits(capsys, str(run_copy), str(shakespeare_slice), "--precision", "fp32")
    found = {" ".join(flags): _bits(capsys, str(run_copy), str(shakespeare_slice), *flags) for flags in RUNTIMES}
    assert found["--runtime onnx"] == pytest.approx(plain, rel=1e-5)
    for flags, bits in found.items():
        assert bits == pytest.approx(plain, rel=0.01), flags
    assert (run_copy / "onnx" / "step.int8.onnx").stat().st_size < (run_copy / "onnx" / "step.onnx").stat().st_size


def test_onnx_runtime_samples_the_text_torch_samples_for_a_seed(run_copy, capsys):
    texts = []
    for flags in ([], ["--runtime", "onnx"]):
        capsys.readouterr()
        assert main(["sample", str(run_copy), "--prime", "KING", "--length", "120", "--seed", "4",
                     "--precision", "fp32", *flags]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and texts[0].startswith("KING")
    assert main(["sample", str(run_copy), "--length", "50", "--quantize", "int8"]) == 0
    assert len(capsys.readouterr().out.strip()) > 10


def test_other_tasks_refuse_the_runtimes_in_one_line(served_runs, capsys):
    capsys.readouterr()
    assert main(["eval", str(served_runs["classify"]), "--quantize", "int8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--runtime and --quantize are for language models so far" in err


def test_the_server_generates_on_onnx_runtime_what_the_command_line_samples(run_copy):
    import httpx
    from serve_helpers import live_server, rnnkit

    body = {"prime": "KING", "length": 80, "seed": 2, "n": 2, "temperature": 0.7}
    with live_server([f"m={run_copy}"], "--runtime", "onnx", "--quantize", "int8") as (_, url):
        answer = httpx.post(f"{url}/v1/models/m/generate", json=body, timeout=60).json()
        refused = httpx.post(f"{url}/v1/models/m/neurons", json={"text": "KING"}, timeout=60)
    cli = rnnkit("sample", str(run_copy), "--prime", "KING", "--length", "80", "--seed", "2", "--num", "2",
                 "--temperature", "0.7", "--runtime", "onnx", "--quantize", "int8")
    printed = [block.rstrip("\n") for block in re.split(r"--- sample \d+ ---\n", cli.stdout) if block]
    assert ["KING" + s["text"] for s in answer["samples"]] == printed
    assert refused.status_code == 400 and "neurons reads the PyTorch model" in refused.json()["error"]
