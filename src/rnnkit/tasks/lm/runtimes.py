"""Where a language model samples and scores: PyTorch, PyTorch with int8 weights, or ONNX Runtime (fp32 or int8).

At batch 1 a step reads every weight once, so its speed is the bytes it reads: int8
weights are a quarter of fp32's. ``torch`` + ``int8`` is PyTorch's dynamic quantization of
the fused recurrent layers and the output layer (weights int8, activations quantized per
call); ``onnx`` runs the graphs ``rnnkit export`` writes (``RUN/onnx``, exported on first
use), and ``onnx`` + ``int8`` those graphs after ONNX Runtime's dynamic quantization of
their matrix multiplies. Each is a drop-in model for the sampler and the scorer:
``model(ids, state) -> (logits, state)`` and ``make_stepper().step(tokens, state)``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.errors import UserError
from rnnkit.tasks.lm.run import LoadedRun

RUNTIMES = ("torch", "onnx")
QUANTIZE = ("none", "int8")


class ForwardStepper:
    """Steps by running a model's forward over one token: for weights the unrolled stepper cannot read."""

    def __init__(self, model) -> None:
        self.model = model

    def step(self, tokens: Tensor, state) -> tuple[Tensor, object]:
        logits, state = self.model(tokens[:, None], state)
        return logits[:, 0].float(), state


class Int8Model(nn.Module):
    """A language model with int8 weights in its fused recurrent layers and its output layer."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch's notice that this API moves to torchao
            warnings.simplefilter("ignore")
            self.inner = quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.LSTM, nn.GRU, nn.Linear},
                                          dtype=torch.qint8)
        self.config, self.recurrent = model.config, self.inner.recurrent
        self.register_buffer("anchor", torch.zeros(1))  # a parameter-like tensor: where the model lives

    def parameters(self, recurse: bool = True):
        yield self.anchor

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, object]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.inner(ids, state)

    def make_stepper(self, dtype: torch.dtype = torch.float32, product=None) -> ForwardStepper:
        return ForwardStepper(self)


class OnnxModel:
    """A language model on ONNX Runtime: ``score.onnx`` reads sequences, ``step.onnx`` one token."""

    training = False

    def __init__(self, folder: Path, config, suffix: str = "") -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.step_session = onnxruntime.InferenceSession(str(folder / f"step{suffix}.onnx"), options)
        self.score_session = onnxruntime.InferenceSession(str(folder / f"score{suffix}.onnx"), options)
        self.config, self.lstm = config, config.cell == "lstm"
        self.names = [i.name for i in self.step_session.get_inputs()][1:]
        self.recurrent = SimpleNamespace(bidirectional=False)  # what beam search and neurons ask of a model

    def eval(self) -> OnnxModel:
        return self

    def train(self, mode: bool = True) -> OnnxModel:
        return self

    def parameters(self):
        yield torch.zeros(1)  # it runs on the CPU

    def _run(self, session, tokens: np.ndarray, state) -> tuple[Tensor, tuple]:
        if state is None:
            flat = [np.zeros((tokens.shape[0], self.config.hidden_size), np.float32) for _ in self.names]
        else:
            flat = [t.numpy() for layer in state for t in (layer if self.lstm else (layer,))]
        outputs = session.run(None, {"tokens": tokens, **dict(zip(self.names, flat, strict=True))})
        values = [torch.from_numpy(v) for v in outputs[1:]]
        nested = tuple(zip(values[::2], values[1::2], strict=True)) if self.lstm else tuple(values)
        return torch.from_numpy(outputs[0]), nested

    def __call__(self, ids: Tensor, state=None) -> tuple[Tensor, tuple]:
        tokens = ids.cpu().numpy().astype(np.int64)
        if tokens.shape[1] == 1:  # the scorer's time axis starts at 2
            logits, state = self._run(self.step_session, tokens[:, 0], state)
            return logits[:, None], state
        return self._run(self.score_session, tokens, state)

    def make_stepper(self, dtype: torch.dtype = torch.float32, product=None) -> OnnxModel:
        return self

    def step(self, tokens: Tensor, state) -> tuple[Tensor, tuple]:
        return self._run(self.step_session, tokens.cpu().numpy().astype(np.int64), state)


def onnx_folder(loaded: LoadedRun, quantize: str) -> tuple[Path, str]:
    """``RUN/onnx`` with the exported graphs (written now if missing or older than the weights) and, for
    int8, their quantized copies; returns the folder and the graphs' file suffix."""
    from rnnkit.tasks.lm.export import export_onnx

    folder, weights = loaded.run / "onnx", loaded.run / "model.safetensors"
    step = folder / "step.onnx"
    if not step.exists() or step.stat().st_mtime < weights.stat().st_mtime:
        print(f"rnnkit: exporting {loaded.run} to {folder} for ONNX Runtime", file=sys.stderr)
        export_onnx(loaded, folder)
    if quantize == "none":
        return folder, ""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process, logged on the root logger
    try:
        for name in ("step", "score"):
            target = folder / f"{name}.int8.onnx"
            if not target.exists() or target.stat().st_mtime < step.stat().st_mtime:
                quantize_dynamic(folder / f"{name}.onnx", target, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return folder, ".int8"


def on_torch(request) -> bool:
    """A request for the default runtime: PyTorch, fp32 weights (so its --precision applies)."""
    return (request.runtime, request.quantize) == ("torch", "none")


def on_runtime(loaded: LoadedRun, runtime: str, quantize: str) -> LoadedRun:
    """The loaded run with its model on ``runtime`` and ``quantize`` (torch + none: as it is)."""
    if runtime not in RUNTIMES or quantize not in QUANTIZE:
        raise UserError(f"--runtime {runtime} --quantize {quantize}: choose --runtime torch or onnx, "
                        "--quantize none or int8")
    if runtime == "torch" and quantize == "none":
        return loaded
    if loaded.device.type != "cpu":
        raise UserError("--quantize int8 and --runtime onnx run on the CPU; add --device cpu")
    if runtime == "torch":
        return dataclasses.replace(loaded, model=Int8Model(loaded.model))
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError("--runtime onnx needs onnxruntime, onnx and onnxscript: pip install -e '.[export]'") from None
    folder, suffix = onnx_folder(loaded, quantize)
    return dataclasses.replace(loaded, model=OnnxModel(folder, loaded.model.config, suffix))
