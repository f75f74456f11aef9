"""The rnnkit command end to end on a tiny corpus, including every bad input."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.train import generations


def rnnkit(*args: str) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True,
                          timeout=240)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shakespeare_slice) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    result = rnnkit("train", "lm", str(shakespeare_slice), "--out", str(run), "--steps", "30", *TINY)
    assert result.returncode == 0, result.stderr
    assert "bits per character" in result.stdout and "sample:" in result.stdout
    return run


def test_run_directory_holds_everything_to_reload(trained):
    for name in ("config.json", "tokenizer.json", "model.safetensors", "last.safetensors",
                 "checkpoints/LATEST", "metrics.jsonl", "samples.jsonl"):
        assert (trained / name).exists(), name
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == ["LATEST", "step-00000020",
                                                                        "step-00000030"]  # --keep 2
    config = json.loads((trained / "config.json").read_text())
    assert config["model"]["hidden_size"] == 32 and config["task"] == "lm"
    evals = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    val = [e["val_bits_per_char"] for e in evals if "val_bits_per_char" in e]
    assert len(val) == 3 and val[-1] < val[0]  # it learned something in 30 steps
    samples = [json.loads(line) for line in (trained / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [10, 20, 30]
    for path in trained.rglob("*"):  # no pickle anywhere: nothing in a run executes code on load
        assert path.is_dir() or path.read_bytes()[:2] not in (b"PK", b"\x80\x02", b"\x80\x04"), path


def test_eval_json_reports_bits_and_matches_the_training_log(trained, shakespeare_slice):
    result = rnnkit("eval", str(trained), str(shakespeare_slice), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert {"bits_per_char", "nats_per_char", "perplexity", "tokens"} <= set(scores)
    assert scores["tokens"] == 59_999
    assert math.isclose(scores["bits_per_char"], scores["nats_per_char"] / math.log(2))
    assert math.isclose(scores["perplexity"], math.exp(scores["nats_per_char"]), rel_tol=1e-9)
    assert 1.0 < scores["bits_per_char"] < math.log2(65)


def test_sample_is_reproducible_and_greedy_is_argmax(trained):
    a = rnnkit("sample", str(trained), "--seed", "3", "--length", "60")
    b = rnnkit("sample", str(trained), "--seed", "3", "--length", "60")
    c = rnnkit("sample", str(trained), "--seed", "4", "--length", "60")
    assert a.returncode == 0 and a.stdout == b.stdout and a.stdout != c.stdout
    greedy = rnnkit("sample", str(trained), "--prime", "ROMEO:", "--temperature", "0", "--length", "30")
    assert greedy.stdout.startswith("ROMEO:")
    assert len(greedy.stdout.rstrip("\n")) >= 30


def test_resume_continues_exactly(tmp_path, shakespeare_slice):
    common = [str(shakespeare_slice), *TINY, "--dropout", "0.2", "--progress"]
    assert main(["train", "lm", *common, "--steps", "20", "--out", str(tmp_path / "whole"),
                 "--schedule", "constant"]) == 0
    assert main(["train", "lm", *common, "--steps", "10", "--out", str(tmp_path / "split"),
                 "--schedule", "constant"]) == 0
    assert main(["resume", str(tmp_path / "split"), "--steps", "20"]) == 0
    whole = load_file(tmp_path / "whole" / "last.safetensors")
    split = load_file(tmp_path / "split" / "last.safetensors")
    assert whole.keys() == split.keys()
    for key in whole:
        assert torch.equal(whole[key], split[key]), key


def test_resume_exact_with_the_cosine_schedule(tmp_path, shakespeare_slice):
    from rnnkit.cli import build_parser
    from rnnkit.config import from_args
    from rnnkit.tasks.lm import run as lm_run
    from rnnkit.tasks.sections import DataConfig, ModelConfig
    from rnnkit.train.config import TrainConfig

    args = build_parser().parse_args(["train", "lm", *TINY, "--dropout", "0.1", "--steps", "16"])
    configs = [from_args(c, args) for c in (ModelConfig, TrainConfig, DataConfig)]
    data = [str(shakespeare_slice)]
    lm_run.train(data, *configs, str(tmp_path / "whole"), "cpu", False)
    lm_run.train(data, *configs, str(tmp_path / "split"), "cpu", False, stop_at=7)
    assert lm_run.resume(tmp_path / "split", {}, "cpu", False)[1]["step"] == 16
    split = load_file(tmp_path / "split" / "last.safetensors")
    for key, value in load_file(tmp_path / "whole" / "last.safetensors").items():
        assert torch.equal(value, split[key]), key


def test_bad_inputs_give_one_line_and_exit_code_2(tmp_path, trained, shakespeare_slice, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Grüße aus Köln\n".encode("latin-1") * 100)
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be\n" * 5)
    not_run = tmp_path / "not_a_run"
    not_run.mkdir()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(trained, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"garbage" * 10)
    foreign = tmp_path / "foreign"
    shutil.copytree(trained, foreign)
    config = json.loads((foreign / "config.json").read_text())
    config["rnnkit_format"] = 99
    (foreign / "config.json").write_text(json.dumps(config))
    cases = [
        (["train", "lm", str(tmp_path / "missing.txt")], "missing.txt: no such file"),
        (["train", "lm", str(empty)], "empty.txt: the file is empty"),
        (["train", "lm", str(binary)], "data.bin: looks like a binary file"),
        (["train", "lm", str(latin)], "latin.txt: byte 2 is not valid utf-8; pass --encoding"),
        (["train", "lm", str(short), "--batch-size", "64", "--seq-len", "128"], "the largest that fit"),
        (["sample", str(trained), "--prime", "日本"], "'日', '本' never appeared"),
        (["sample", str(not_run)], "not an rnnkit run"),
        (["eval", str(corrupt), str(shakespeare_slice)], "model.safetensors: corrupt"),
        (["sample", str(foreign)], "incompatible rnnkit version"),
        (["train", "lm", str(shakespeare_slice), "--out", str(trained)], "already holds a run"),
    ]
    first = rnnkit(*cases[0][0])  # the console entry point, as a user runs it; the rest in process
    assert first.returncode == 2 and cases[0][1] in first.stderr and "Traceback" not in first.stderr
    assert len(first.stderr.strip().splitlines()) == 1, first.stderr
    for args, message in cases[1:]:
        capsys.readouterr()
        assert main(list(args)) == 2, args  # an unexpected exception would fail here, not print
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (args, err)


def test_latin1_trains_with_the_encoding_flag(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Grüße aus Köln, schöne Grüße.\n".encode("latin-1") * 200)
    run = tmp_path / "run"
    assert main(["train", "lm", str(latin), "--encoding", "latin-1", "--steps", "2", "--out", str(run), *TINY]) == 0
    assert "ü" in json.loads((run / "tokenizer.json").read_text())["chars"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, shakespeare_slice, capsys):
    bad = tmp_path / "bad"
    # an absurd learning rate blows the weights up within a few steps; in fp32, since whether the
    # first step's 1e30 weights already overflow depends on the bf16 kernel (AMX's do, Zen 4's do not)
    code = main(["train", "lm", str(shakespeare_slice), "--out", str(bad), "--steps", "200", "--lr", "1e30",
                 "--clip", "0", *TINY, "--warmup-steps", "0", "--eval-every", "1", "--precision", "fp32"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "training diverged at step" in err and "the last good checkpoint (step" in err, err
    saved = int(err.split("checkpoint (step ")[1].split(")")[0])
    assert generations.latest(bad).step == saved >= 1
    assert all(torch.isfinite(t).all() for t in load_file(bad / "last.safetensors").values())


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_interrupt_saves_then_exits(tmp_path, shakespeare_slice, name, code):
    import signal

    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "rnnkit", "train", "lm", str(shakespeare_slice), "--out",
                                str(run), "--minutes", "5", *TINY], stderr=subprocess.PIPE, text=True)
    import time

    deadline = time.time() + 60
    while not (run / "checkpoints" / "LATEST").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(getattr(signal, name))
    _, err = process.communicate(timeout=60)
    assert process.returncode == code
    assert "checkpoint saved" in err and "rnnkit resume" in err
    step = generations.latest(run).step
    assert step > 10  # saved at the interruption, not only at the first validation
    assert main(["resume", str(run), "--steps", str(step + 3), "--no-progress"]) == 0


def test_corpora_lists_the_builtin_corpus():
    result = rnnkit("corpora")
    assert result.returncode == 0 and "python-stdlib" in result.stdout


def test_every_command_has_help(capsys):
    """In process (argparse exits 0 after printing); other tests start `rnnkit` as a program."""
    for command in (["train"], ["sample"], ["eval"], ["corpora"], ["train", "lm"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0 and "usage" in out
    assert "(default: 512)" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_checkpoint_loads_and_scores_the_same_on_cpu(tmp_path, shakespeare_slice):
    run = tmp_path / "gpu"
    assert main(["train", "lm", str(shakespeare_slice), "--out", str(run), "--steps", "20", "--device", "cuda",
                 *TINY]) == 0
    scores = {}
    for device in ("cuda", "cpu"):
        result = rnnkit("eval", str(run), str(shakespeare_slice), "--json", "--device", device)
        assert result.returncode == 0, result.stderr
        scores[device] = json.loads(result.stdout)["bits_per_char"]
    assert math.isclose(scores["cuda"], scores["cpu"], rel_tol=1e-4)
    assert rnnkit("sample", str(run), "--device", "cpu", "--length", "20").returncode == 0


def test_a_vanilla_rnn_gets_its_own_learning_rate_unless_one_is_given(tmp_path, shakespeare_slice):
    for extra, expected in (([], 2e-3), (["--lr", "0.01"], 0.01)):
        run = tmp_path / f"rnn{len(extra)}"
        assert main(["train", "lm", str(shakespeare_slice), "--cell", "rnn", "--steps", "2", "--out", str(run),
                     *TINY, *extra]) == 0
        assert json.loads((run / "config.json").read_text())["train"]["lr"] == expected


def test_a_second_trainer_of_one_run_is_refused_and_a_killed_ones_lock_is_not(tmp_path, shakespeare_slice, capsys):
    import signal

    from rnnkit.train.checkpoint import run_lock

    run = tmp_path / "run"
    assert main(["train", "lm", str(shakespeare_slice), *TINY, "--steps", "10", "--out", str(run),
                 "--no-progress"]) == 0
    config_before = (run / "config.json").read_text()
    with run_lock(run):  # as a live trainer holds it
        capsys.readouterr()
        assert main(["resume", str(run), "--steps", "20", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "already being trained by process" in err
        assert (run / "config.json").read_text() == config_before  # nothing written over the live run
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from rnnkit.train.checkpoint import run_lock; "
                               f"cm = run_lock(Path({str(run)!r})); cm.__enter__(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert main(["resume", str(run), "--steps", "20", "--no-progress"]) == 0


def _documented_commands() -> list[list[str]]:
    """Every `rnnkit ...` line of the README's and docs' shell blocks, continuations joined."""
    import re
    import shlex

    root = Path(__file__).parent.parent
    commands = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                cut = [i for i, w in enumerate(words) if w in ("<", ">", ">>", "|", "&&", ";") or w.startswith("2>")]
                words = words[:cut[0]] if cut else words
                if words and words[0].endswith("rnnkit") and len(words) > 1:
                    commands.append(words[1:])
    return commands


def test_every_documented_command_parses_in_todays_form():
    from rnnkit.cli import build_parser
    from rnnkit.cli.train import modern_argv

    commands = _documented_commands()
    assert len(commands) > 30
    parser = build_parser()
    for argv in commands:
        assert modern_argv(argv) == argv, f"an old form in the docs: rnnkit {' '.join(argv)}"
        _, unknown = parser.parse_known_args(argv)
        assert not unknown, f"rnnkit {' '.join(argv)}: {unknown}"
