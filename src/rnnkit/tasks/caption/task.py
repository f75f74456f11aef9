"""The captioner's side of the training loop: caption batches over cached features, validation CIDEr.

A training example is one caption of one photo (Flickr8k: five per photo), its
features looked up by image; validation captions every validation photo greedily
and scores the corpus with BLEU-4 and CIDEr-D against all its references.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.sequences import ShuffledBatches, pad
from rnnkit.eval.bleu import caption_bleu
from rnnkit.eval.cider import cider_d
from rnnkit.tasks.caption.decoding import CaptionSearch, caption_grids
from rnnkit.tasks.caption.features import Features
from rnnkit.tasks.caption.model import BOS, PAD, Captioner, doubly_stochastic_penalty
from rnnkit.tasks.caption.vocab import CaptionVocab
from rnnkit.train import distributed
from rnnkit.train.precision import autocast

SHOWN_EXAMPLES = 3
VALIDATION_LOSS_CAPTIONS = 2000  # the teacher-forced validation loss reads at most this many (a seeded choice)


def model_inputs(features: Features, names: list[str], kind: str) -> torch.Tensor:
    """What the captioner reads of these photos: the grid (B, 49, C), or without attention the
    pooled vector as a grid of one (B, 1, C), which is all Show and Tell uses."""
    rows = features.rows(names)
    return features.grid[rows] if kind == "soft" else features.pooled[rows].unsqueeze(1)


def caption_batch(captions: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(words in: start + words, words out: words + end), both padded."""
    inputs, _ = pad([np.concatenate([[BOS], c[:-1]]) for c in captions])
    outputs, _ = pad(captions)
    return inputs, outputs


class CaptionTask:
    """Loss, validation BLEU-4 and CIDEr-D, and a few captions, for ``TrainLoop``."""

    unit = "tokens"

    def __init__(self, model: Captioner, vocab: CaptionVocab, features: Features, splits: dict[str, list[str]],
                 captions: dict[str, list[str]], settings: dict, device: torch.device, precision: str) -> None:
        self.model, self.vocab, self.features = model, vocab, features
        self.device, self.precision, self.kind = device, precision, model.kind
        self.images = [name for name in splits["train"] for _ in captions[name]]
        self.captions = [vocab.encode(c) for name in splits["train"] for c in captions[name]]
        self.val_images = splits["val"]
        self.val_references = [captions[name] for name in self.val_images]
        pairs = [(name, vocab.encode(c)) for name in self.val_images for c in captions[name]]
        chosen = np.random.default_rng(settings["seed"]).permutation(len(pairs))[:VALIDATION_LOSS_CAPTIONS]
        self.val_pairs = [pairs[i] for i in sorted(chosen)]
        self.batch_size, self.seed = settings["batch_size"], settings["seed"]
        self.penalty, self.select = settings["doubly_stochastic"], settings["select"]
        self.search = CaptionSearch(max_words=settings["max_words"], batch_size=max(self.batch_size, 64))
        self.batches = ShuffledBatches(np.array([len(c) for c in self.captions]), self.batch_size, self.seed)
        self._tokens = 0

    def units_per_step(self) -> float:
        return self._tokens

    def _losses(self, names: list[str], captions: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(mean cross-entropy per word, mean attention penalty per caption, words)."""
        words_in, words_out = caption_batch(captions)
        grid = model_inputs(self.features, names, self.kind).to(self.device)
        words_out = words_out.to(self.device)
        with autocast(self.device, self.precision):
            logits, weights = self.model(grid, words_in.to(self.device))
        loss = F.cross_entropy(logits.float().flatten(0, 1), words_out.flatten(), ignore_index=PAD)
        penalty = (doubly_stochastic_penalty(weights, (words_out != PAD).float()).mean()
                   if weights is not None else torch.zeros((), device=self.device))
        return loss, penalty, int((words_out != PAD).sum())

    def loss(self, step: int) -> torch.Tensor:
        """Cross-entropy per word plus the attention penalty per caption; under torchrun, this rank's
        captions' part of both means."""
        world, everyone = distributed.current(), self.batches.indices(step)
        self._tokens = sum(len(self.captions[i]) for i in everyone)
        chosen = world.mine(everyone)
        if len(chosen) == 0:
            return distributed.no_rows()
        self.model.train()
        loss, penalty, tokens = self._losses([self.images[i] for i in chosen], [self.captions[i] for i in chosen])
        return (world.share(loss, tokens, self._tokens)
                + self.penalty * world.share(penalty, len(chosen), len(everyone)))

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Teacher-forced loss (nats per word) on validation captions, and greedy BLEU-4 and CIDEr-D."""
        self.model.eval()
        world = distributed.current()
        pairs, total, tokens = world.mine(self.val_pairs), 0.0, 0
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            loss, _, count = self._losses([n for n, _ in chunk], [c for _, c in chunk])
            total, tokens = total + float(loss) * count, tokens + count
        total, tokens = world.sum(total, tokens)
        mine = world.mine(self.val_images)
        ids = world.gather_sequences([h[0].tokens for h in self._captions(mine)])
        hypotheses = [self.vocab.decode(i) for i in ids]
        bleu = caption_bleu(hypotheses, self.val_references)
        cider, _ = cider_d(hypotheses, self.val_references)
        chosen = cider if self.select == "cider" else bleu["bleu4"] / 100
        return {"loss": total / max(tokens, 1), "bleu4": bleu["bleu4"], "cider": cider, "objective": -chosen}

    def _captions(self, names: list[str]):
        if not names:
            return []
        return caption_grids(self.model, model_inputs(self.features, names, self.kind), self.search,
                             self.precision)

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"CIDEr {scores['cider']:.3f}"
        return f"BLEU-4 {scores['bleu4']:.2f}  CIDEr-D {scores['cider']:.3f}  (loss {scores['loss']:.4f})"

    def sample(self, generator: torch.Generator) -> str:
        """A few validation photos: the model's caption and one of the people's."""
        picked = torch.randperm(len(self.val_images), generator=generator)[:SHOWN_EXAMPLES].tolist()
        found = self._captions([self.val_images[i] for i in picked])
        return "\n".join(f"{self.val_images[i]}: {self.vocab.decode(h[0].tokens)}\n  (a person: "
                         f"{self.val_references[i][0]})" for i, h in zip(picked, found, strict=True))

    def carried_state(self) -> dict:
        return {}  # batches depend on the step alone

    def load_carried_state(self, state: dict) -> None:
        pass
