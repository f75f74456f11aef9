"""``rnnkit export`` for a forecaster: ``forecast.onnx`` and ``model.json``.

``(inputs[B, T, F], state...) -> (predictions[B, T, O], state...)`` in scaled units: a
prediction after every step read, so a window's last row is its forecast and a stream can
carry the state one step at a time. ``model.json`` holds what turns values into inputs
and predictions back into values: each column's mean and standard deviation (the target
first), the calendar features' formula, and the strategy (``direct``: O = horizon steps at
once; ``recursive``: one step, fed back as the next input's target).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from rnnkit.export.onnx_graphs import (
    Port,
    export_graph,
    flat,
    nested,
    require_onnx,
    state_names,
    state_ports,
    write_description,
)
from rnnkit.export.twins import exportable
from rnnkit.tasks.forecast.run import LoadedForecaster

CALENDAR = "sin(2 pi d / 365.25), cos(2 pi d / 365.25) with d the day of the year counted from 0"


class ForecastGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.lstm = exportable(model), model.recurrent.cell_type == "lstm"

    def forward(self, inputs, *state):
        predictions, new_state = self.model(inputs, nested(state, self.lstm))
        return (predictions, *flat(new_state, self.lstm))


def export_onnx(loaded: LoadedForecaster, out: Path) -> list[Path]:
    """Write ``forecast.onnx`` and ``model.json`` into ``out``; returns their paths."""
    require_onnx()
    out.mkdir(parents=True, exist_ok=True)
    recurrent = loaded.model.recurrent
    names = state_names(recurrent.cell_type, recurrent.num_layers)
    state = tuple(torch.zeros(2, recurrent.hidden_size) for _ in names)
    export_graph(ForecastGraph(loaded.model), (torch.zeros(2, 3, recurrent.input_size), *state),
                 [Port("inputs", {0: "batch", 1: "time"}), *state_ports(names)],
                 [Port("predictions", {0: "batch", 1: "time"}), *state_ports(names, "_out")], out / "forecast.onnx")
    write_description(out / "model.json", {
        "task": "forecast", "cell": recurrent.cell_type, "layers": recurrent.num_layers,
        "hidden_size": recurrent.hidden_size, "columns": loaded.config["columns"],
        "scaling": loaded.scaling.to_dict(), "calendar": CALENDAR if loaded.forecast.calendar else None,
        "inputs_per_step": recurrent.input_size, "forecast": dataclasses.asdict(loaded.forecast),
        "state": {name: ["batch", recurrent.hidden_size] for name in names},
        "graph": {"inputs": ["inputs", *names], "outputs": ["predictions", *(f"{n}_out" for n in names)]}})
    return [out / "forecast.onnx", out / "model.json"]
