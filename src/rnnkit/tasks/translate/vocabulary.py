"""The translator's tokenizers: one fitted on each side's training text, or one on both.

Separate vocabularies (the default) give each language its own words or subwords, each
capped at its own size. A joint vocabulary (``--joint-vocabulary``) is one tokenizer fitted
on both sides together, as subword translators often use for languages that share an
alphabet: names and numbers copied from source to target are then the same tokens.

Unless ``--tokenizer`` or ``--target-tokenizer`` is given, each side reads words when all
its training word types fit in its vocabulary and BPE when they do not, so no word of the
training text becomes ``<unk>``. Measured on eng-fra in both directions (docs/tuning.md,
"The translator's tokenizer per side").
"""

from __future__ import annotations

from collections import Counter

from rnnkit.data.pairs import Pair, PairsConfig
from rnnkit.data.tokenizers import WORD_PATTERN, Tokenizer, fit_tokenizer, normalize
from rnnkit.errors import UserError
from rnnkit.tasks.choices import Choice
from rnnkit.tasks.sections import DataConfig

TOKENIZER_FLAGS = {"tokenizer", "target_tokenizer"}  # a user who set either chose the token units


def check_vocabularies(data: DataConfig, pairs: PairsConfig) -> None:
    """Sizes and units that cannot all hold, refused before any data is read."""
    if pairs.target_vocab_size < 0:
        raise UserError("--target-vocab-size takes a size, or 0 for --vocab-size's")
    if pairs.joint_vocabulary and (pairs.target_vocab_size or pairs.target_tokenizer):
        flag = "--target-vocab-size" if pairs.target_vocab_size else "--target-tokenizer"
        raise UserError(f"{flag} sets a separate target vocabulary: drop it, or drop --joint-vocabulary "
                        "(the joint one is --tokenizer and --vocab-size)")
    if "char" in (data.tokenizer, pairs.target_tokenizer):
        raise UserError("rnnkit train translate reads words or subwords: pass --tokenizer word or --tokenizer bpe")


def word_types(texts: list[str]) -> int:
    """How many distinct units a word tokenizer fitted on these lines would see (the line break one)."""
    return len(Counter(WORD_PATTERN.findall(normalize("\n".join(texts)))))


def unit_for(texts: list[str], vocab_size: int, side: str, size_flag: str) -> tuple[str, str]:
    """(tokenizer kind, why): words when every word type fits beside ``<unk>``, else BPE."""
    types = word_types(texts)
    if types <= vocab_size - 1:
        return "word", f"the {side} side's {types:,} word types all fit in {size_flag} {vocab_size:,}"
    return "bpe", f"the {side} side's {types:,} word types do not fit in {size_flag} {vocab_size:,}"


def tokenizer_choices(train: list[Pair], data: DataConfig, pairs: PairsConfig, given: set[str] | None,
                      ) -> list[Choice]:
    """Each side's token unit from the training split, unless the user (or a Python caller,
    ``given`` None) chose them."""
    if given is None or given & TOKENIZER_FLAGS or not train:
        return []
    sources, targets = [s for s, _ in train], [t for _, t in train]
    if pairs.joint_vocabulary:
        kind, why = unit_for(sources + targets, data.vocab_size, "joint", "--vocab-size")
        return [Choice("tokenizer", kind, why)]
    source_kind, source_why = unit_for(sources, data.vocab_size, "source", "--vocab-size")
    target_kind, target_why = unit_for(targets, pairs.target_vocab_size or data.vocab_size, "target",
                                       "--target-vocab-size" if pairs.target_vocab_size else "--vocab-size")
    return [Choice("tokenizer", source_kind, source_why), Choice("target_tokenizer", target_kind, target_why)]


def fit_pair_tokenizers(train: list[Pair], data: DataConfig, pairs: PairsConfig) -> tuple[Tokenizer, Tokenizer]:
    """(source, target) tokenizers from the training pairs; the same object twice when joint."""
    sources = "\n".join(source for source, _ in train)
    targets = "\n".join(target for _, target in train)
    if pairs.joint_vocabulary:
        shared = fit_tokenizer(data.tokenizer, sources + "\n" + targets, data.vocab_size)
        return shared, shared
    return (fit_tokenizer(data.tokenizer, sources, data.vocab_size),
            fit_tokenizer(pairs.target_tokenizer or data.tokenizer, targets,
                          pairs.target_vocab_size or data.vocab_size))
