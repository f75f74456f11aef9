"""The recurrent stack's settings and the one factory that builds it on a backend.

Every model in rnnkit (language, line, classifier, forecaster, translator) gets its
recurrent layers here, so a backend, a cell variant or a size means the same thing
in every task. Task models subclass ``RecurrentConfig`` for what only they have.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.config import option
from rnnkit.nn.compiled import CompiledRecurrent
from rnnkit.nn.fused import FusedRecurrent
from rnnkit.nn.recurrent import Recurrent

BACKENDS = ("auto", "fused", "compiled", "eager")
LAYER_TYPES = {"fused": FusedRecurrent, "compiled": CompiledRecurrent, "eager": Recurrent,
               "unrolled": Recurrent}  # "unrolled": the name runs saved before "eager"


@dataclass
class RecurrentConfig:
    """Cell, sizes, depth, dropout, backend and cell variant of a recurrent stack."""

    cell: str = option("lstm", "recurrent cell", ("rnn", "lstm", "gru"))
    hidden_size: int = option(512, "units per recurrent layer")
    num_layers: int = option(1, "stacked recurrent layers")
    dropout: float = option(0.0, "dropout between layers and before the output layer (`rnnkit train lm` "
                            "chooses it and the other regularisers from its budget table when not given)")
    backend: str = option("auto", "auto: time fused and compiled on this shape once and keep the faster "
                          "(language models; other tasks use fused); fused oneDNN/cuDNN kernels; compiled: "
                          "the cells' equations with batched input projections, hand-written backward and "
                          "torch.compile'd steps; eager: the equations unrolled step by step", BACKENDS)
    nonlinearity: str = option("tanh", "vanilla RNN activation", ("tanh", "relu"))
    reset: str = option("after", "GRU reset gate: after (torch.nn, fused) or before (Cho et al., eager)",
                        ("after", "before"))
    weight_drop: float = option(0.0, "DropConnect on the hidden-to-hidden matrices while training, one mask "
                                "per batch (AWD-LSTM's weight drop; every backend)")
    locked_dropout: float = option(0.0, "variational dropout, one mask per sequence and unit shared by every "
                                   "step, between layers and (language models) on the embeddings and the "
                                   "last layer's output, in place of --dropout's per-step masks there")


def resolved_backend(config: RecurrentConfig) -> str:
    """``auto`` not made concrete by timing means fused, or eager for Cho et al.'s GRU,
    which the fused kernels cannot run."""
    if config.backend != "auto":
        return config.backend
    return "eager" if config.cell == "gru" and config.reset != "after" else "fused"


def recurrent_layers(config: RecurrentConfig, input_size: int, bidirectional: bool = False,
                     ) -> Recurrent | FusedRecurrent:
    """The recurrent stack ``config`` describes, on the backend it names (every PyTorch model's core)."""
    layer_type = LAYER_TYPES.get(resolved_backend(config))
    if layer_type is None:
        raise ValueError(f"backend {config.backend!r} has no PyTorch model; choose fused, compiled or eager")
    return layer_type(config.cell, input_size, config.hidden_size, config.num_layers, dropout=config.dropout,
                      bidirectional=bidirectional, nonlinearity=config.nonlinearity, reset=config.reset,
                      weight_drop=config.weight_drop, locked_dropout=config.locked_dropout)
