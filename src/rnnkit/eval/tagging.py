"""Scores of tag sequences: token accuracy, and entity precision, recall and F1 as CoNLL counts them.

An entity is a span and a type; a predicted entity is right only if a true entity has
the same start, end and type (CoNLL-2000's conlleval and ``seqeval``'s default mode).
Spans are read as conlleval reads them, so IOB1 and BIO2 give the same entities, and a
model's I-X after O starts an entity rather than being dropped.
"""

from __future__ import annotations

from collections import Counter

Entity = tuple[str, int, int]  # type, start, end (exclusive)


def entities(tags: list[str]) -> set[Entity]:
    """The entities of one sentence: a B-X, or an I-X that does not continue an X span, starts one;
    I-X continues it; anything else ends it."""
    found: set[Entity] = set()
    kind, start = None, 0
    for position, tag in enumerate([*tags, "O"]):
        prefix, name = tag[:2], tag[2:]
        continues = prefix == "I-" and name == kind
        if kind is not None and not continues:
            found.add((kind, start, position))
            kind = None
        if prefix in ("B-", "I-") and not continues:
            kind, start = name, position
    return found


def _prf(correct: int, predicted: int, true: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": true}


def entity_scores(truth: list[list[str]], predicted: list[list[str]]) -> dict:
    """Precision, recall and F1 per entity type, micro (over all entities) and macro (mean over types)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true sentences, {len(predicted)} predicted")
    correct: Counter = Counter()
    true_count: Counter = Counter()
    predicted_count: Counter = Counter()
    for true_tags, predicted_tags in zip(truth, predicted, strict=True):
        if len(true_tags) != len(predicted_tags):
            raise ValueError("a predicted sentence's length differs from its truth")
        gold, guess = entities(true_tags), entities(predicted_tags)
        true_count.update(kind for kind, _, _ in gold)
        predicted_count.update(kind for kind, _, _ in guess)
        correct.update(kind for kind, _, _ in gold & guess)
    types = sorted(set(true_count) | set(predicted_count))
    per_type = {kind: _prf(correct[kind], predicted_count[kind], true_count[kind]) for kind in types}
    micro = _prf(sum(correct.values()), sum(predicted_count.values()), sum(true_count.values()))
    macro = {key: sum(s[key] for s in per_type.values()) / len(types) if types else 0.0
             for key in ("precision", "recall", "f1")}
    return {"per_type": per_type, "micro": micro, "macro": macro, "f1": micro["f1"]}


def token_accuracy(truth: list[list[str]], predicted: list[list[str]]) -> float:
    pairs = [(t, p) for ts, ps in zip(truth, predicted, strict=True) for t, p in zip(ts, ps, strict=True)]
    return sum(t == p for t, p in pairs) / len(pairs) if pairs else 0.0


def format_entity_report(scores: dict) -> str:
    """A conlleval-like table: one row per type, then micro and macro."""
    lines = [f"{'type':<16}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}"]
    for kind, row in scores["per_type"].items():
        lines.append(f"{kind:<16}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
                     f"{row['support']:>9}")
    micro, macro = scores["micro"], scores["macro"]
    lines.append(f"{'micro':<16}{micro['precision']:>10.4f}{micro['recall']:>10.4f}{micro['f1']:>10.4f}"
                 f"{micro['support']:>9}")
    lines.append(f"{'macro':<16}{macro['precision']:>10.4f}{macro['recall']:>10.4f}{macro['f1']:>10.4f}")
    return "\n".join(lines)
