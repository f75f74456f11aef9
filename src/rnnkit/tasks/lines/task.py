"""The line model's side of the training loop: padded lines, loss over real tokens and the end token."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.sequences import ShuffledBatches, pad
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.decode.sampling import generate_lines
from rnnkit.eval.scores import scores
from rnnkit.tasks.lines.model import LineModel
from rnnkit.train import distributed
from rnnkit.train.precision import autocast

IGNORE = -100  # cross_entropy's ignore_index: padding is never scored
SHOWN_LINES = 8


def line_batch(sequences: list[np.ndarray], boundary: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs ``<b> x1..xn`` (B, T), targets ``x1..xn <b>`` (B, T) padded with IGNORE, lengths (B,))."""
    inputs, lengths = pad([np.concatenate([[boundary], s]) for s in sequences], pad_id=boundary)
    targets, _ = pad([np.concatenate([s, [boundary]]) for s in sequences], pad_id=IGNORE)
    return inputs, targets, lengths


@torch.no_grad()
def line_nats(model: LineModel, sequences: list[np.ndarray], labels: np.ndarray | None, device: torch.device,
              precision: str = "fp32", batch_size: int = 256) -> tuple[float, int]:
    """Summed negative log-likelihood in nats of every line and its end token, and the tokens scored."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    order = np.argsort([len(s) for s in sequences], kind="stable")
    try:
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            inputs, targets, lengths = line_batch([sequences[i] for i in chosen], model.boundary)
            label_batch = None if labels is None else torch.from_numpy(labels[chosen]).to(device)
            with autocast(device, precision):
                logits, _ = model(inputs.to(device), label_batch, None, lengths.to(device))
            total += float(F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten().to(device),
                                           ignore_index=IGNORE, reduction="sum"))
            tokens += int(lengths.sum())
    finally:
        model.train(was_training)
    return total, tokens


class LineTask:
    """Loss, validation and sampled lines for ``TrainLoop``."""

    def __init__(self, model: LineModel, tokenizer: Tokenizer, train: tuple[list[np.ndarray], np.ndarray | None],
                 val: tuple[list[np.ndarray], np.ndarray | None], val_chars: int, labels: list[str],
                 batch_size: int, seed: int, device: torch.device, precision: str = "fp32") -> None:
        self.model, self.tokenizer, self.device, self.precision = model, tokenizer, device, precision
        self.train_ids, self.train_labels = train
        self.val_ids, self.val_labels = val
        self.val_chars, self.labels = val_chars, labels
        self.batches = ShuffledBatches(np.array([len(s) for s in self.train_ids]), batch_size, seed)
        self._tokens = 0

    unit = "tokens"  # what units_per_step counts, as the log and the progress bar name it

    def units_per_step(self) -> float:
        return self._tokens

    def loss(self, step: int) -> torch.Tensor:
        """Mean loss over the batch's tokens; under torchrun, this rank's lines' part of it."""
        world, everyone = distributed.current(), self.batches.indices(step)
        self._tokens = sum(len(self.train_ids[i]) + 1 for i in everyone)  # each line and its end
        chosen = world.mine(everyone)
        if len(chosen) == 0:
            return distributed.no_rows()
        inputs, targets, lengths = line_batch([self.train_ids[i] for i in chosen], self.model.boundary)
        labels = None if self.train_labels is None else torch.from_numpy(self.train_labels[chosen]).to(self.device)
        with autocast(self.device, self.precision):
            logits, _ = self.model(inputs.to(self.device), labels, None, lengths.to(self.device))
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten().to(self.device), ignore_index=IGNORE)
        return world.share(loss, float(lengths.sum()), float(self._tokens))

    def evaluate(self) -> dict:
        world = distributed.current()  # each rank scores its part of the validation lines
        labels = None if self.val_labels is None else world.mine(self.val_labels)
        total, tokens = world.sum(*line_nats(self.model, world.mine(self.val_ids), labels, self.device,
                                             self.precision))
        result = scores(total, tokens, self.val_chars)
        return {"loss": result["nats_per_token"], **result}

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"{scores['nats_per_token']:.3f} nats/token"
        return f"{scores['nats_per_token']:.4f} nats/token ({scores['bits_per_char']:.4f} bits/char)"

    def sample(self, generator: torch.Generator) -> str:
        """A few whole lines (with their labels, for a conditioned model)."""
        labels = None
        if self.labels:
            labels = torch.arange(SHOWN_LINES, device=self.device) % len(self.labels)
        prime = torch.full((SHOWN_LINES, 1), self.model.boundary, device=self.device)
        lines = generate_lines(self.model.conditioned(labels), prime, 100, self.model.boundary,
                               generator=generator)
        texts = [self.tokenizer.decode(line).strip() for line in lines]
        if labels is None:
            return "\n".join(texts)
        return "\n".join(f"{self.labels[int(y)]}: {t}" for y, t in zip(labels, texts, strict=True))

    def carried_state(self) -> dict:
        return {}

    def load_carried_state(self, state: dict) -> None:
        pass
