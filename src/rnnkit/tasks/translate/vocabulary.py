"""The translator's tokenizers: one fitted on each side's training text, or one on both.

Separate vocabularies (the default) give each language its own words or subwords, each
capped at its own size. A joint vocabulary (``--joint-vocabulary``) is one tokenizer fitted
on both sides together, as subword translators often use for languages that share an
alphabet: names and numbers copied from source to target are then the same tokens.
"""

from __future__ import annotations

from rnnkit.data.pairs import Pair, PairsConfig
from rnnkit.data.tokenizers import Tokenizer, fit_tokenizer
from rnnkit.errors import UserError
from rnnkit.tasks.sections import DataConfig


def check_vocabularies(data: DataConfig, pairs: PairsConfig) -> None:
    """Sizes that cannot both hold, refused before any data is read."""
    if pairs.target_vocab_size < 0:
        raise UserError("--target-vocab-size takes a size, or 0 for --vocab-size's")
    if pairs.joint_vocabulary and pairs.target_vocab_size:
        raise UserError("--target-vocab-size sizes a separate target vocabulary: drop it, or drop "
                        "--joint-vocabulary (the joint one is --vocab-size)")
    if data.tokenizer == "char":
        raise UserError("rnnkit train translate reads words or subwords: pass --tokenizer word or --tokenizer bpe")


def fit_pair_tokenizers(train: list[Pair], data: DataConfig, pairs: PairsConfig) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers from the training pairs; the same object twice when joint."""
    sources = "\n".join(source for source, _ in train)
    targets = "\n".join(target for _, target in train)
    if pairs.joint_vocabulary:
        shared = fit_tokenizer(data.tokenizer, sources + "\n" + targets, data.vocab_size)
        return shared, shared
    return (fit_tokenizer(data.tokenizer, sources, data.vocab_size),
            fit_tokenizer(data.tokenizer, targets, pairs.target_vocab_size or data.vocab_size))
