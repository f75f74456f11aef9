"""The config sections every task shares: the model's shape and the data it reads.

Each task's row in ``TASKS`` derives its own defaults from these (``with_defaults``),
so a flag means the same thing in every task and ``--help`` shows the task's value.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from rnnkit.config import from_dict, option
from rnnkit.nn.config import BACKENDS, RecurrentConfig

# Learning rates for cells the default (1e-2, tuned for the LSTM) does not suit. At 1e-2 a wide
# vanilla RNN learns weights that work only along the hidden-state trajectory it trained on
# (docs/experiments.md, "Cells"); 2e-3 trains it properly.
CELL_LEARNING_RATE = {"rnn": 2e-3}
RECURRENT_HELP = {f.name: f.metadata["help"] for f in fields(RecurrentConfig)}


@dataclass
class ModelConfig(RecurrentConfig):
    """The network's shape: the recurrent stack plus the token embedding; saved in ``config.json``
    so a checkpoint rebuilds itself."""

    backend: str = option("auto", RECURRENT_HELP["backend"] + "; numpy: the NumPy reference with "
                          "hand-written BPTT (language models, slow)", (*BACKENDS, "numpy"))
    embedding_size: int = option(64, "token embedding width (0: same as --hidden-size)")
    tie_weights: bool = option(False, "share the embedding with the output layer (needs equal sizes)")
    embedding_dropout: float = option(0.0, "language models: drop whole token types from each batch's "
                                      "embedding table (every occurrence at once), scaling the rest")
    ar: float = option(0.0, "language models: activation regularisation, this times the mean square of the "
                       "last layer's (dropped) outputs, added to the loss")
    tar: float = option(0.0, "language models: temporal activation regularisation, this times the mean "
                        "square change of the last layer's outputs from one step to the next")


@dataclass
class DataConfig:
    """What the model reads and how it is cut into batches."""

    tokenizer: str = option("char", "token unit (byte: raw bytes, 256 symbols, any file reads)",
                            ("char", "byte", "word", "bpe"))
    vocab_size: int = option(2000, "vocabulary size for word and BPE tokens")
    val_fraction: float = option(0.1, "the last fraction of the text held out for validation")
    encoding: str = option("utf-8", "text encoding of the data files")
    encoding_errors: str = option("strict", "bytes that are not valid in --encoding: stop with the file and "
                                  "byte (strict) or read each as U+FFFD (replace)", ("strict", "replace"))
    max_chars: int = option(0, "read at most this many characters (0: all; built-in corpora: 3,000,000)")
    batch_size: int = option(16, "parallel streams per batch (B)")
    seq_len: int = option(64, "time steps per chunk for truncated BPTT (T)")
    eval_streams: int = option(16, "parallel streams when scoring validation text")
    state_reset: float = option(0.02, "chance per stream and chunk that its carried state restarts from "
                                "zero, so the model also learns to start cold (0: only at each epoch)")

    def decode_errors(self) -> str:
        """How readers decode this run's text: raw bytes kept for the byte tokenizer, else the flag."""
        return "surrogateescape" if self.tokenizer == "byte" else self.encoding_errors


def decode_errors_of(config: dict) -> str:
    """How to read text for a saved run (eval, viz): as it read its training text."""
    return from_dict(DataConfig, config.get("data", {})).decode_errors()
