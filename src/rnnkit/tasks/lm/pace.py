"""How fast this machine trains the run's model: the pace the budget table counts passes with.

The table's regularisers depend on how many passes a budget makes over the text, which
depends on the machine as much as on the minutes. So a run takes the fused kernels' step
time on its recurrent layers (the bulk of a step), from ``--backend auto``'s cache when it
has timed this shape, else timed now, and scales it to a whole step.
"""

from __future__ import annotations

from rnnkit.nn.backends import Shape, fused_step_seconds
from rnnkit.tasks.lm.budget import Pace
from rnnkit.tasks.runs import resolve_device
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train.precision import resolve_precision

# A whole step (embedding, softmax, optimiser, regularisers) over the recurrent layers'
# forward and backward alone, for the 1x512 model on a 2-core Zen 4 in bf16: 20.9 against
# 15.5 ms without regularisers, 22.5 against 18.9 with them.
WHOLE_STEP = 1.3
CHARS_PER_TOKEN = {"char": 1.0, "byte": 1.0}  # a word or BPE token: about 4 characters of English
OTHER_TOKENS = 4.0


def measured_pace(model: ModelConfig, data: DataConfig, precision: str, device_name: str) -> Pace:
    """The seconds per training step and characters per step of this run on this machine."""
    device = resolve_device(device_name)
    shape = Shape(model.cell, model.embedding_size or model.hidden_size, model.hidden_size, model.num_layers,
                  False, data.batch_size, data.seq_len, resolve_precision(precision, device), str(device))
    chars_per_token = CHARS_PER_TOKEN.get(data.tokenizer, OTHER_TOKENS)
    return Pace(fused_step_seconds(shape) * WHOLE_STEP, data.batch_size * data.seq_len * chars_per_token)
