"""Classifier scores from a confusion matrix: accuracy, per-class precision/recall/F1, macro-F1.

Macro-F1 averages F1 over every class the model knows, so a rare class counts as
much as a frequent one (a model that always says "Russian" on the surnames gets
47% accuracy but a macro-F1 near 0.04). A class with no predictions has precision
0, and one with no examples recall 0, as scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth), np.asarray(predicted)), 1)
    return matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def classification_scores(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """accuracy, macro_f1, and per-class precision, recall, f1 and support, with the confusion matrix."""
    matrix = confusion_matrix(truth, predicted, len(labels))
    hits = np.diag(matrix).astype(np.float64)
    support, predicted_count = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(hits, predicted_count), _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = int(matrix.sum())
    return {
        "accuracy": float(hits.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "examples": total,
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)},
        "confusion": matrix.tolist(),
    }


def format_report(scores: dict) -> str:
    """A per-class table like scikit-learn's ``classification_report``."""
    width = max(12, *(len(label) for label in scores["per_class"]))
    lines = [f"{'':<{width}}  precision  recall      f1  support"]
    for label, row in scores["per_class"].items():
        lines.append(f"{label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:6.3f}  "
                     f"{row['support']:7,}")
    lines.append(f"{'accuracy':<{width}}  {'':9}  {'':6}  {scores['accuracy']:6.3f}  {scores['examples']:7,}")
    lines.append(f"{'macro F1':<{width}}  {'':9}  {'':6}  {scores['macro_f1']:6.3f}")
    return "\n".join(lines)
