"""One module as one ONNX graph: named inputs and outputs, named dynamic axes, padded batches.

Every task's export goes through ``export_graph``. Axes named alike are one dimension (a
``batch`` axis is the same size on every input that has it). Recurrent layers are traced
on whole, unpacked sequences; for padded batches the graph's ``lengths`` input is then
wired into each ONNX ``LSTM``/``GRU``/``RNN`` node's ``sequence_lens``, so ONNX Runtime
stops every row at its own length, reads the reverse direction from each row's last real
token, and returns the state at that length: what PyTorch's packed sequences compute.
The modules traced are ``twins.exportable`` copies of a task's model.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from rnnkit.errors import UserError

FORMAT = 1  # model.json's layout version
# the smallest size of each dynamic axis (there is no largest)
AXIS_MINIMUM = {"batch": 1, "time": 2, "source": 2, "letters": 2}
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
LENGTHS_SLOT = 4  # sequence_lens, in the inputs of all three operators


@dataclass
class Port:
    """A graph input or output: its name and which of its axes are dynamic (axis -> name)."""

    name: str
    axes: dict[int, str] = field(default_factory=dict)


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise UserError("export --format onnx needs onnx and onnxscript: pip install -e '.[export]'") from None


def export_graph(module: nn.Module, example: tuple, inputs: list[Port], outputs: list[Port], path: Path,
                 lengths: dict[str, str] | None = None) -> None:
    """Write ``module(*example)`` to ``path``. ``lengths`` maps a submodule's name (``""``: all of them)
    to the input holding its rows' lengths; the recurrent nodes traced inside it stop there."""
    forget_recurrent_dispatch()
    used = {name for port in inputs for name in port.axes.values()}
    dims = {name: torch.export.Dim(name, min=AXIS_MINIMUM[name]) for name in used}
    shapes = grouped(module, [{axis: dims[name] for axis, name in port.axes.items()} or None for port in inputs])
    # the exporter's progress lines and its warnings about torch's own modules are not the command's output
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), example, str(path), input_names=[p.name for p in inputs],
                              output_names=[p.name for p in outputs], dynamo=True, external_data=False,
                              dynamic_shapes=shapes)
    finally:
        exporter_log.setLevel(level)
    finish(path, inputs, outputs, lengths or {})


def forget_recurrent_dispatch() -> None:
    """Clear the recurrent operators' dispatch caches before each export. The exporter keeps ``aten::lstm``
    and ``aten::gru`` whole (ONNX has them), but once any trace has cached their decomposition, the next
    export unrolls them instead, at the traced length (measured with torch 2.13)."""
    for op in (torch.ops.aten.lstm, torch.ops.aten.gru):
        for overload in ("input", "data"):
            cache = getattr(getattr(op, overload), "_dispatch_cache", None)
            if cache is not None:
                cache.clear()


def grouped(module: nn.Module, shapes: list) -> tuple:
    """The flat per-input shapes in the structure of ``module.forward``'s parameters (``*state``: a tuple)."""
    result, rest = [], list(shapes)
    for parameter in inspect.signature(module.forward).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            result.append(tuple(rest))
            rest = []
        elif rest:
            result.append(rest.pop(0))
    return tuple(result)


def finish(path: Path, inputs: list[Port], outputs: list[Port], lengths: dict[str, str]) -> None:
    """Name the outputs' dynamic axes (the exporter writes traced sizes there) and wire the lengths."""
    import onnx

    model = onnx.load(str(path))
    for port, value in zip(inputs, model.graph.input, strict=False):
        fixed = [axis for axis in port.axes if not value.type.tensor_type.shape.dim[axis].dim_param]
        if fixed:  # a graph that is only right at the traced sizes must not be written
            raise RuntimeError(f"the exporter fixed axes {fixed} of {port.name!r} at their traced sizes")
    for port, value in zip(outputs, model.graph.output, strict=True):
        for axis, name in port.axes.items():
            value.type.tensor_type.shape.dim[axis].dim_param = name
    del model.graph.value_info[:]  # traced sizes are written on inner values too; runtimes infer them
    if lengths:
        wire_lengths(model.graph, lengths)
    onnx.save(model, str(path))


def node_scope(node) -> str:
    """The dotted name of the submodule a node was traced in ("" at the top)."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":  # e.g. ['', 'chars', 'chars.rnn', 'lstm']: modules, then the op
            names = ast.literal_eval(prop.value)
            return names[-2] if len(names) >= 2 else ""
    return ""


def wire_lengths(graph, lengths: dict[str, str]) -> None:
    from onnx import TensorProto, helper

    cast = {}
    for name in sorted(set(lengths.values())):
        # one length per row of the recurrent node's batch: a [B, T] input (one per word) is read flat
        cast[name] = f"{name}_int32"
        graph.node.insert(0, helper.make_node("Cast", [f"{name}_flat"], [cast[name]], to=TensorProto.INT32))
        graph.node.insert(0, helper.make_node("Reshape", [name, "minus_one"], [f"{name}_flat"]))
    graph.initializer.append(helper.make_tensor("minus_one", TensorProto.INT64, [1], [-1]))
    wired = set()
    for node in graph.node:
        if node.op_type not in RECURRENT_OPS:
            continue
        scope = node_scope(node)
        owner = max((prefix for prefix in lengths if scope == prefix or scope.startswith(prefix + ".")
                     or not prefix), key=len, default=None)
        if owner is None:
            continue
        while len(node.input) <= LENGTHS_SLOT:
            node.input.append("")
        node.input[LENGTHS_SLOT] = cast[lengths[owner]]
        wired.add(owner)
    if wired != set(lengths):
        raise RuntimeError(f"no recurrent node found under {sorted(set(lengths) - wired)} to stop at the lengths")


def state_names(cell: str, layers: int) -> list[str]:
    """A recurrent state as graph inputs: ``h0`` (and ``c0`` for an LSTM) per layer, each ``[B, H]``."""
    return [f"{kind}{k}" for k in range(layers) for kind in (("h", "c") if cell == "lstm" else ("h",))]


def flat(state, lstm: bool) -> tuple:
    return tuple(t for layer in state for t in (layer if lstm else (layer,)))


def nested(values: tuple, lstm: bool) -> tuple:
    return tuple(zip(values[::2], values[1::2], strict=True)) if lstm else tuple(values)


def write_description(path: Path, description: dict) -> None:
    path.write_text(json.dumps({"format": FORMAT, **description}, ensure_ascii=False, indent=1), encoding="utf-8")


def vocabulary(tokenizer) -> list[str]:
    """Each id's text, in id order: what a program without rnnkit needs to encode and decode."""
    return [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]


def state_ports(names: list[str], suffix: str = "") -> list[Port]:
    return [Port(name + suffix, {0: "batch"}) for name in names]
