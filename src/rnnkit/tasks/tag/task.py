"""The tagger's side of the training loop: shuffled padded batches of sentences, <unk> replacement,
and early stopping on entity F1 (BIO tags) or token accuracy (anything else)."""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.data.conll import is_bio
from rnnkit.data.sequences import ShuffledBatches
from rnnkit.eval.tagging import entity_scores, token_accuracy
from rnnkit.tasks.tag.model import Tagger, predict_tags
from rnnkit.tasks.tag.vocab import UNK, Encoded, TagVocab, collate
from rnnkit.train import distributed
from rnnkit.train.precision import autocast

SHOWN_SENTENCES = 3


class TaggingTask:
    """Loss, validation and a few tagged validation sentences, for ``TrainLoop``."""

    unit = "words"

    def __init__(self, model: Tagger, vocab: TagVocab, train: list[Encoded], val: list[Encoded],
                 val_words: list[list[str]], singletons: np.ndarray, batch_size: int, seed: int,
                 device: torch.device, precision: str, unk_replace: float) -> None:
        self.model, self.vocab, self.device, self.precision = model, vocab, device, precision
        self.train, self.val, self.val_words = train, val, val_words
        self.singletons, self.unk_replace, self.seed = singletons, unk_replace, seed
        self.batches = ShuffledBatches(np.array([len(s.words) for s in train]), batch_size, seed)
        self.entities = is_bio(vocab.tags)
        self._words = 0
        shown = np.random.default_rng(seed).permutation(len(val))[:SHOWN_SENTENCES]
        self.shown = sorted(int(i) for i in shown)

    def units_per_step(self) -> float:
        return self._words

    def replaced_words(self, chosen: np.ndarray, step: int) -> list[np.ndarray]:
        """The batch's word ids with each singleton swapped for <unk> at rate ``unk_replace``; the draw
        depends on the seed and the step only, so a resumed run replaces the same words."""
        rng = np.random.default_rng([self.seed, step, 1])
        out = []
        for index in chosen:
            words = self.train[index].words
            drop = self.singletons[words] & (rng.random(len(words)) < self.unk_replace)
            out.append(np.where(drop, UNK, words))
        return out

    def loss(self, step: int) -> torch.Tensor:
        """Mean loss per word of the batch; under torchrun, this rank's sentences' part of it (the
        replacements drawn for the whole batch, so they do not depend on the world size)."""
        world, everyone = distributed.current(), self.batches.indices(step)
        replaced = self.replaced_words(everyone, step)
        self._words = sum(len(words) for words in replaced)
        chosen, words = world.mine(everyone), world.mine(replaced)
        if len(chosen) == 0:
            return distributed.no_rows()
        batch = collate([self.train[i] for i in chosen], words).to(self.device)
        with autocast(self.device, self.precision):
            scores = self.model.emissions(batch)
        return world.share(self.model.loss(batch, scores), float(batch.lengths.sum()), float(self._words))

    def evaluate(self) -> dict:
        world = distributed.current()  # each rank tags its part of the validation sentences
        mine = world.mine(self.val)
        predicted, loss = predict_tags(self.model, mine, self.device, self.precision, with_loss=True) \
            if mine else ([], 0.0)
        words = sum(len(s.words) for s in mine)
        total, words = world.sum(loss * words, words)
        loss = total / max(words, 1)
        predicted = world.gather_sequences([list(map(int, row)) for row in predicted])
        truth = [[self.vocab.tags[i] for i in s.tags] for s in self.val]
        guessed = [[self.vocab.tags[i] for i in row] for row in predicted]
        scores = {"loss": loss, "accuracy": token_accuracy(truth, guessed)}
        if self.entities:
            scores["f1"] = entity_scores(truth, guessed)["f1"]
        scores["objective"] = -scores.get("f1", scores["accuracy"])
        return scores

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"F1 {scores['f1']:.3f}" if "f1" in scores else f"acc {scores['accuracy']:.3f}"
        f1 = f"  entity F1 {scores['f1']:.4f}" if "f1" in scores else ""
        return f"accuracy {scores['accuracy']:.4f}{f1}  (loss {scores['loss']:.4f})"

    def sample(self, generator: torch.Generator) -> str:
        """A few validation sentences as word/TAG, a wrong tag marked with the truth after it."""
        sentences = [self.val[i] for i in self.shown]
        predicted, _ = predict_tags(self.model, sentences, self.device, self.precision)
        lines = []
        for index, sentence, row in zip(self.shown, sentences, predicted, strict=True):
            words = self.val_words[index]
            pieces = [f"{w}/{self.vocab.tags[p]}" + ("" if p == t else f"(not {self.vocab.tags[t]})")
                      for w, p, t in zip(words, row, sentence.tags, strict=True)]
            lines.append(" ".join(pieces[:30]) + (" ..." if len(pieces) > 30 else ""))
        return "\n".join(lines)

    def carried_state(self) -> dict:
        return {}  # batches and replacements depend on the step alone

    def load_carried_state(self, state: dict) -> None:
        pass
