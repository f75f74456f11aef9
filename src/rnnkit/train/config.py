"""How to train: the options every task's training takes, and the optimiser they configure."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnkit.config import option
from rnnkit.errors import UserError
from rnnkit.train.precision import PRECISIONS


@dataclass
class TrainConfig:
    """How to train; saved in ``config.json`` next to the model's shape."""

    steps: int = option(0, "stop after this many optimiser steps (0: no step limit)")
    minutes: float = option(0.0, "stop after this much training time (0: no time limit; --steps alone "
                            "lifts the default time limit)")
    lr: float = option(1e-2, "peak learning rate (AdamW)")
    weight_decay: float = option(0.01, "AdamW decoupled weight decay, on matrices only")
    warmup_steps: int = option(50, "linear learning-rate warm-up from 0")
    schedule: str = option("cosine", "learning rate after warm-up", ("cosine", "constant"))
    min_lr_ratio: float = option(0.05, "where the cosine ends, as a fraction of --lr")
    clip: float = option(1.0, "clip the global gradient norm to this (0: off)")
    eval_every: int = option(500, "steps between validations, samples and checkpoints")
    patience: int = option(0, "stop after this many validations without improvement (0: off)")
    seed: int = option(1337, "seeds weights, dropout and samples")
    keep: int = option(2, "checkpoint generations kept in RUN/checkpoints (the newest; at least 1)")
    average: int = option(1, "best weights: the mean of the K checkpoints that validated best (1: the best one)")
    average_last: int = option(0, "best weights: the mean of the checkpoints of the last N validations, "
                               "whatever they scored, in place of --average (fairseq's checkpoint averaging; "
                               "0: off)")
    ema: float = option(0.0, "validate, sample and keep as best an exponential moving average of the weights "
                        "with this decay (e.g. 0.999; 0: off)")
    tail_average: float = option(0.0, "validate, sample and keep as best the mean of every step's weights "
                                 "from this fraction of the budget on (AWD-LSTM's averaged SGD; 0: off)")
    sample_length: int = option(200, "tokens of sample text written at each validation")
    precision: str = option("auto", "fp32; bf16 (autocast: bf16 matrix multiplies, fp32 master weights, "
                            "state, loss and softmax); auto: bf16 where the CPU has AVX-512 bf16 or AMX or "
                            "the GPU supports it, else fp32", PRECISIONS)

    def __post_init__(self) -> None:
        """A bad average is refused before any data is read."""
        if not 0.0 <= self.ema < 1.0 or not 0.0 <= self.tail_average < 1.0:
            raise UserError("--ema and --tail-average take a number in [0, 1), e.g. --ema 0.999")
        if self.ema and self.tail_average:
            raise UserError("choose one average: --ema or --tail-average, not both")
        if self.average_last < 0 or self.average < 0:
            raise UserError("--average K and --average-last N take a count of checkpoints, "
                            "e.g. --average-last 5 (0: off)")



def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, not embeddings)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (decay if param.ndim >= 2 and "embedding" not in name else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))
