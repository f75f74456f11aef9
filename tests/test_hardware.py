"""The machine's identity that cached timings are keyed by."""

from __future__ import annotations

import torch

from rnnkit.nn import backends as backend_choice
from rnnkit.nn.backends import Shape, choose_backend, machine_key
from rnnkit.nn.hardware import cpu_identity, cpuinfo


def fake_cpuinfo(family: int, model: int, flags: str) -> str:
    """Two logical processors as a virtual machine reports them: the name says little."""
    core = (f"processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: {family}\nmodel\t\t: {model}\n"
            f"model name\t: AMD EPYC\nstepping\t: 1\nflags\t\t: fpu sse2 {flags}\n")
    return core + "\n" + core.replace("processor\t: 0", "processor\t: 1")


ZEN3 = fake_cpuinfo(25, 1, "avx avx2 fma")
ZEN4 = fake_cpuinfo(25, 17, "avx avx2 fma avx512f avx512_bf16")
ZEN5 = fake_cpuinfo(26, 2, "avx avx2 fma avx512f avx512_bf16")


def test_a_field_is_matched_whole_not_by_its_prefix():
    text = "model name\t: AMD EPYC\nmodel\t\t: 17\n"  # "model name" first: a prefix match would take it
    assert cpuinfo("model", text) == "17" and cpuinfo("model name", text) == "AMD EPYC"
    assert cpuinfo("microcode", text) == ""


def test_processors_of_one_name_are_told_apart_by_family_model_and_flags():
    identities = {cpu_identity(text) for text in (ZEN3, ZEN4, ZEN5)}
    assert len(identities) == 3
    assert cpu_identity(ZEN3) == "AMD EPYC (family 25, model 1, stepping 1; avx2)"
    assert cpu_identity(ZEN5).endswith("; avx2 avx512f avx512_bf16)")
    assert cpu_identity(fake_cpuinfo(25, 1, "sse4_2")).endswith("; no avx2)")
    assert cpu_identity("") == ""  # not Linux: the caller falls back to what platform says


def test_a_timing_cached_on_one_processor_is_not_reused_on_another(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(backend_choice, "compiler_works", lambda: False)
    calls = []
    monkeypatch.setattr(backend_choice, "time_backend", lambda kind, shape, repeats=3: calls.append(kind) or (0.5, 0.4))
    shape = Shape("lstm", 64, 512, 1, False, 64, 64, "bf16", "cpu")
    keys = set()
    for text in (ZEN4, ZEN5, ZEN4):
        monkeypatch.setattr(backend_choice, "cpu_identity", lambda text=text: cpu_identity(text))
        keys.add(machine_key(torch.device("cpu")))
        choose_backend(shape, 10, 0, log=lambda line: None)
    assert len(keys) == 2 and all("AMD EPYC (family" in key for key in keys)
    assert calls == ["fused", "fused"]  # timed on each processor once; the third run read Zen 4's entry
