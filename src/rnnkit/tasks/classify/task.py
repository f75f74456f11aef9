"""The classifier's side of the training loop: shuffled padded batches, macro-F1 for early stopping."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.sequences import ShuffledBatches, pad
from rnnkit.eval.classification import classification_scores
from rnnkit.tasks.classify.model import Classifier, predict_logits
from rnnkit.train import distributed
from rnnkit.train.precision import autocast

SHOWN_EXAMPLES = 6


def inverse_frequency_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """n / (C * n_c): each class's examples weigh as much in total as every other class's."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.divide(len(labels), num_classes * counts, out=np.zeros(num_classes), where=counts > 0)
    return torch.tensor(weights, dtype=torch.float32)


class ClassificationTask:
    """Loss, validation and a look at a few predictions, for ``TrainLoop``."""

    def __init__(self, model: Classifier, train: tuple[list[np.ndarray], np.ndarray],
                 val: tuple[list[np.ndarray], np.ndarray], val_texts: list[str], labels: list[str],
                 batch_size: int, seed: int, device: torch.device, precision: str = "fp32",
                 class_weights: bool = False) -> None:
        self.model, self.device, self.precision = model, device, precision
        self.train_ids, self.train_labels = train
        self.val_ids, self.val_labels = val
        self.val_texts, self.labels = val_texts, labels
        self.batches = ShuffledBatches(np.array([len(s) for s in self.train_ids]), batch_size, seed)
        self.weights = inverse_frequency_weights(self.train_labels, len(labels)).to(device) if class_weights else None
        self._chars = 0
        shown = np.random.default_rng(seed).permutation(len(val_texts))[:SHOWN_EXAMPLES]
        self.shown = sorted(int(i) for i in shown)

    unit = "tokens"  # what units_per_step counts, as the log and the progress bar name it

    def units_per_step(self) -> float:
        """Tokens in the last batch (characters for a character model)."""
        return self._chars

    def loss(self, step: int) -> torch.Tensor:
        """The batch's weighted mean loss; under torchrun, this rank's rows' part of it."""
        world, everyone = distributed.current(), self.batches.indices(step)
        self._chars = sum(len(self.train_ids[i]) for i in everyone)
        chosen = world.mine(everyone)
        if len(chosen) == 0:
            return distributed.no_rows()
        ids, lengths = pad([self.train_ids[i] for i in chosen])
        targets = torch.from_numpy(self.train_labels[chosen]).to(self.device)
        with autocast(self.device, self.precision):
            logits = self.model(ids.to(self.device), lengths.to(self.device))
        loss = F.cross_entropy(logits.float(), targets, weight=self.weights)
        return world.share(loss, self._weight(chosen), self._weight(everyone))

    def _weight(self, rows: np.ndarray) -> float:
        """What these rows weigh in the batch's weighted mean (their count, without class weights)."""
        if self.weights is None:
            return float(len(rows))
        return float(self.weights.cpu()[torch.from_numpy(self.train_labels[rows])].sum())

    def evaluate(self) -> dict:
        world = distributed.current()  # each rank scores its part of the validation split
        logits = world.gather_rows(predict_logits(self.model, world.mine(self.val_ids), self.device,
                                                  self.precision))
        truth = torch.from_numpy(self.val_labels)
        loss = float(F.cross_entropy(logits, truth))
        result = classification_scores(self.val_labels, logits.argmax(-1).numpy(), self.labels)
        return {"loss": loss, "accuracy": result["accuracy"], "macro_f1": result["macro_f1"],
                "objective": -result["macro_f1"]}

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"F1 {scores['macro_f1']:.3f}"
        return (f"accuracy {scores['accuracy']:.4f}  macro-F1 {scores['macro_f1']:.4f}  "
                f"(loss {scores['loss']:.4f})")

    def sample(self, generator: torch.Generator) -> str:
        """A few validation examples with the predicted label, its probability and the truth."""
        ids = [self.val_ids[i] for i in self.shown]
        probs = predict_logits(self.model, ids, self.device, self.precision).softmax(-1)
        lines = []
        for index, row in zip(self.shown, probs, strict=True):
            best = int(row.argmax())
            truth = self.labels[self.val_labels[index]]
            lines.append(f"{self.val_texts[index][:60]} -> {self.labels[best]} {float(row[best]):.2f}"
                         f" ({'right' if best == self.val_labels[index] else 'wrong: ' + truth})")
        return "\n".join(lines)

    def carried_state(self) -> dict:
        return {}  # batches depend on the step alone

    def load_carried_state(self, state: dict) -> None:
        pass
