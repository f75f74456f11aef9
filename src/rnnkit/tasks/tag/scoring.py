"""A tagger's scores on tagged sentences: token accuracy, entity F1 for BIO tags, a tag confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.data.conll import Sentence, is_bio
from rnnkit.eval.tagging import entity_scores, format_entity_report, token_accuracy
from rnnkit.tasks.tag.run import LoadedTagger, check_known_tags, tag

CONFUSION_FILE = "confusion.png"


def evaluate(loaded: LoadedTagger, sentences: list[Sentence], precision: str = "fp32") -> dict:
    """``accuracy``, ``sentences``, ``words``, the ``confusion`` counts (true x predicted, in the run's tag
    order) and, for entity tags, ``f1`` with ``entities`` (per type, micro and macro)."""
    check_known_tags(sentences, loaded.vocab)
    truth = [s.tags for s in sentences]
    guessed = tag(loaded, [s.words for s in sentences], precision)
    index = loaded.vocab.tag_index
    confusion = np.zeros((len(index), len(index)), dtype=np.int64)
    for true_tags, predicted in zip(truth, guessed, strict=True):
        np.add.at(confusion, ([index[t] for t in true_tags], [index[t] for t in predicted]), 1)
    result = {"sentences": len(sentences), "words": sum(len(t) for t in truth),
              "accuracy": token_accuracy(truth, guessed), "confusion": confusion.tolist()}
    if is_bio(loaded.vocab.tags):
        entities = entity_scores(truth, guessed)
        result |= {"f1": entities["f1"], "entities": entities}
    return result


def format_report(result: dict) -> str:
    lines = [f"token accuracy {result['accuracy']:.4f} over {result['words']:,} words "
             f"in {result['sentences']:,} sentences"]
    if "entities" in result:
        lines.append(f"entity F1 {result['f1']:.4f} (an entity counts when its span and type are right)")
        lines.append(format_entity_report(result["entities"]))
    return "\n".join(lines)


def plot(loaded: LoadedTagger, result: dict, path: Path, what: str) -> None:
    from rnnkit.viz.confusion import plot_confusion

    scored = f"entity F1 {result['f1']:.3f}" if "f1" in result else f"accuracy {result['accuracy']:.3f}"
    plot_confusion(np.array(result["confusion"]), loaded.labels, path, f"{loaded.run.name} on {what}: {scored}")
