"""The translator's side of the training loop: padded pair batches, validation BLEU for early stopping."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.pairs import Pair
from rnnkit.data.sequences import ShuffledBatches, TokenBatches, pad
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.eval.bleu import corpus_scores
from rnnkit.tasks.translate.decoding import (
    Decoding,
    decode_target,
    encode_source,
    encode_target,
    target_batch,
    translate_ids,
)
from rnnkit.tasks.translate.model import PAD, Seq2Seq
from rnnkit.train import distributed
from rnnkit.train.precision import autocast

SHOWN_EXAMPLES = 4
VALIDATION_SENTENCES = 1000  # validation BLEU reads at most this many pairs (a seeded choice), to stay quick


class TranslationTask:
    """Loss, validation BLEU and a few translations, for ``TrainLoop``."""

    def __init__(self, model: Seq2Seq, tokenizers: tuple[Tokenizer, Tokenizer], train: list[Pair],
                 val: list[Pair], batch_size: int, seed: int, device: torch.device, precision: str,
                 teacher_forcing: float, label_smoothing: float, batch_tokens: int = 0) -> None:
        self.model, self.device, self.precision = model, device, precision
        self.source_tokenizer, self.target_tokenizer = tokenizers
        self.sources = [encode_source(self.source_tokenizer, s) for s, _ in train]
        self.targets = [encode_target(self.target_tokenizer, t) for _, t in train]
        chosen = np.random.default_rng(seed).permutation(len(val))[:VALIDATION_SENTENCES]
        self.val = [val[i] for i in sorted(chosen)]
        self.val_sources = [encode_source(self.source_tokenizer, s) for s, _ in self.val]
        self.val_targets = [encode_target(self.target_tokenizer, t) for _, t in self.val]
        if batch_tokens > 0:  # a pair costs its source, its target and the start token the decoder reads
            self.batches = TokenBatches(np.array([len(s) + len(t) + 1 for s, t in zip(self.sources, self.targets,
                                                                                     strict=True)]),
                                        batch_tokens, seed)
        else:
            self.batches = ShuffledBatches(np.array([len(s) for s in self.sources]), batch_size, seed)
        self.seed = seed
        self.batch_size = batch_size
        self.teacher_forcing, self.label_smoothing = teacher_forcing, label_smoothing
        self._tokens = 0

    unit = "tokens"  # what units_per_step counts, as the log and the progress bar name it

    def units_per_step(self) -> float:
        """Target tokens in the last batch."""
        return self._tokens

    def _loss(self, sources: list[np.ndarray], targets: list[np.ndarray], smoothing: float,
              teacher_forcing: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        ids, lengths = pad(sources)
        target_in, target_out = target_batch(targets)
        with autocast(self.device, self.precision):
            logits, _ = self.model(ids.to(self.device), lengths.to(self.device), target_in.to(self.device),
                                   teacher_forcing=teacher_forcing, generator=generator)
        target_out = target_out.to(self.device)
        loss = F.cross_entropy(logits.float().flatten(0, 1), target_out.flatten(), ignore_index=PAD,
                               label_smoothing=smoothing)
        return loss, int((target_out != PAD).sum())

    def loss(self, step: int) -> torch.Tensor:
        """Mean loss over the batch's target tokens; under torchrun, this rank's pairs' part of it."""
        world, everyone = distributed.current(), self.batches.indices(step)
        self._tokens = sum(len(self.targets[i]) for i in everyone)
        chosen = world.mine(everyone)
        if len(chosen) == 0:
            return distributed.no_rows()
        self.model.train()
        # a resumed run draws the same coins; each rank its own
        coins = torch.Generator().manual_seed(self.seed * 1_000_003 + step + 7_919 * world.rank)
        loss, tokens = self._loss([self.sources[i] for i in chosen], [self.targets[i] for i in chosen],
                                  self.label_smoothing, self.teacher_forcing, coins)
        return world.share(loss, tokens, self._tokens)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Teacher-forced loss (nats per target token, no smoothing) and greedy BLEU and chrF."""
        self.model.eval()
        world = distributed.current()  # each rank scores and translates its part of the validation pairs
        sources, targets = world.mine(self.val_sources), world.mine(self.val_targets)
        total, tokens = 0.0, 0
        for start in range(0, len(sources), self.batch_size):
            rows = slice(start, start + self.batch_size)
            loss, count = self._loss(sources[rows], targets[rows], 0.0, 1.0)
            total, tokens = total + float(loss) * count, tokens + count
        total, tokens = world.sum(total, tokens)
        hypotheses = [decode_target(self.target_tokenizer, ids)
                      for ids in world.gather_sequences(self._best_ids(sources))]
        scores = corpus_scores(hypotheses, [t for _, t in self.val])
        return {"loss": total / max(tokens, 1), "bleu": scores["bleu"], "chrf": scores["chrf"],
                "objective": -scores["bleu"]}

    def translate(self, sources: list[np.ndarray]) -> list[str]:
        return [decode_target(self.target_tokenizer, ids) for ids in self._best_ids(sources)]

    def _best_ids(self, sources: list[np.ndarray]) -> list[list[int]]:
        found = translate_ids(self.model, sources, Decoding(batch_size=max(self.batch_size, 64)), self.precision) \
            if sources else []
        return [list(best[0].tokens) for best in found]

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"BLEU {scores['bleu']:.1f}"
        return f"BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}  (loss {scores['loss']:.4f})"

    def sample(self, generator: torch.Generator) -> str:
        """A few validation sentences, the model's translation and the reference."""
        picked = torch.randperm(len(self.val), generator=generator)[:SHOWN_EXAMPLES].tolist()
        outputs = self.translate([self.val_sources[i] for i in picked])
        return "\n".join(f"{self.val[i][0]}\n  => {out}\n  (reference: {self.val[i][1]})"
                         for i, out in zip(picked, outputs, strict=True))

    def carried_state(self) -> dict:
        return {}  # batches depend on the step alone

    def load_carried_state(self, state: dict) -> None:
        pass
