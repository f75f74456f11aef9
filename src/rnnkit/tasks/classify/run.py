"""Classifier runs: ``rnnkit train classify``, then ``predict`` and ``eval``.

A run directory holds config.json (task "classify", the label names in order),
tokenizer.json, the weights, and its split as train/val/test.jsonl, so a resumed
run trains on exactly the same examples and ``rnnkit eval RUN`` scores the
held-out test examples it never saw.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from rnnkit.config import from_dict
from rnnkit.data.labelled import Example, LabelledConfig, class_counts, label_ids, load_labelled, read_examples
from rnnkit.data.tokenizers import Tokenizer, encode_texts
from rnnkit.errors import UserError
from rnnkit.eval.classification import classification_scores
from rnnkit.eval.results import ClassifierScores
from rnnkit.tasks.classify.model import Classifier, ClassifierConfig, predict_logits
from rnnkit.tasks.classify.task import ClassificationTask
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.runs import (
    reopen,
    resolve_device,
    resumed_loop,
    run_tokenizer,
    saved_precision,
    settle_labelled,
    start_split_run,
)
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint
from rnnkit.train.loop import TrainConfig, TrainLoop
from rnnkit.train.precision import resolve_precision

CONFUSION_FILE = "confusion.png"


@dataclasses.dataclass
class LoadedClassifier(Run):
    tokenizer: Tokenizer
    labels: list[str]
    model: Classifier


def build_task(model: Classifier, tokenizer: Tokenizer, splits: dict[str, list[Example]], labels: list[str],
               config: dict, device: torch.device) -> ClassificationTask:
    encoded = {name: (encode_texts(tokenizer, [t for t, _ in splits[name]]),
                      label_ids(splits[name], labels, name)) for name in ("train", "val")}
    train_config = from_dict(TrainConfig, config["train"])
    return ClassificationTask(model, encoded["train"], encoded["val"], [t for t, _ in splits["val"]], labels,
                              config["data"]["batch_size"], train_config.seed, device,
                              saved_precision(config), config["classifier"]["class_weights"])


def train(sources: list[str], model_config: ModelConfig, head: ClassifierConfig, train_config: TrainConfig,
          data: DataConfig, labelled: LabelledConfig, out: str | None, device_name: str,
          show_progress: bool | None = None, stop_at: int | None = None,
          given: set[str] | None = None) -> tuple[Path, dict]:
    """A new classifier run: returns its directory and the final validation (and test) scores. With
    ``given`` (the fields the user set), the others may be chosen from the data (``text_choices``)."""
    device = resolve_device(device_name)
    splits, origin = load_labelled(sources, labelled, data.encoding, train_config.seed)
    counts = class_counts(splits["train"])
    if len(counts) < 2:
        raise UserError(f"{', '.join(sources)}: the training data has one label; a classifier needs two or more")
    labels = sorted(counts)
    choices, model_config, data, train_config, tokenizer = settle_labelled(
        splits["train"], given, model_config, data, train_config, device)
    precision = train_config.precision
    run, config = start_split_run("classify", sources, out, splits, origin, tokenizer, labels,
                                  [c.to_dict() for c in choices], model=model_config, classifier=head,
                                  train=train_config, data=data, labelled=labelled)
    torch.manual_seed(train_config.seed)
    model = Classifier(tokenizer.vocab_size, len(labels), model_config, head).to(device)
    largest = counts.most_common(1)[0]
    print(f"run {run}: {len(splits['train']):,} training, {len(splits['val']):,} validation and "
          f"{len(splits['test']):,} test examples ({origin}); {len(labels)} labels, the largest "
          f"{largest[0]!r} {largest[1] / len(splits['train']):.0%}; {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, {model_config.num_layers}x{model_config.hidden_size} "
          f"{'bidirectional ' if head.bidirectional else ''}{model_config.cell} on {device}, {precision}",
          file=sys.stderr)
    task = build_task(model, tokenizer, splits, labels, config, device)
    final = TrainLoop(model, task, train_config, run, show_progress).fit(stop_at=stop_at)
    return run, finish(run, final, splits["test"], device_name)


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None,
           stop_at: int | None = None) -> tuple[Path, dict]:
    config, train_config, tokenizer, splits = reopen(run, overrides)
    device = resolve_device(device_name)
    labels = config["labels"]
    model = Classifier(tokenizer.vocab_size, len(labels), from_dict(ModelConfig, config["model"]),
                       from_dict(ClassifierConfig, config["classifier"])).to(device)
    task = build_task(model, tokenizer, splits, labels, config, device)
    final = resumed_loop(run, model, task, train_config, config, device, show_progress).fit(stop_at=stop_at)
    return run, finish(run, final, splits["test"], device_name)


def finish(run: Path, final: dict, test: list[Example], device_name: str) -> dict:
    """With the best weights: scores on the held-out test split and its confusion matrix beside them."""
    if not test:
        return final
    loaded = load(run, device_name)
    result = evaluate(loaded, test, "the test split")
    plot(loaded, result, run / CONFUSION_FILE, "test split")
    return {**final, "test": result.to_dict()}


@loader("classify", "a classifier")
def load(run: Path, device_name: str = "cpu", weights: str = checkpoint.BEST) -> LoadedClassifier:
    config = checkpoint.read_config(run)
    device = resolve_device(device_name)
    tokenizer = run_tokenizer(run)
    labels = config["labels"]
    model = Classifier(tokenizer.vocab_size, len(labels), from_dict(ModelConfig, config["model"]),
                       from_dict(ClassifierConfig, config["classifier"]))
    checkpoint.load_weights(run / weights, model, device)
    return LoadedClassifier(run, config, tokenizer, labels, model.to(device).eval())


def probabilities(loaded: LoadedClassifier, texts: list[str], precision: str = "fp32") -> torch.Tensor:
    """(N, C) class probabilities for raw texts."""
    sequences = encode_texts(loaded.tokenizer, texts)
    return predict_logits(loaded.model, sequences, loaded.device,
                          resolve_precision(precision, loaded.device)).softmax(-1)


def predict(loaded: LoadedClassifier, texts: list[str], top_k: int) -> list[list[tuple[str, float]]]:
    """The ``top_k`` likeliest labels of each text with their probabilities."""
    if not texts:
        raise UserError("nothing to predict; pass texts as arguments or --file with one text per line")
    probs = probabilities(loaded, texts)
    values, indices = probs.topk(min(top_k, len(loaded.labels)), dim=-1)
    return [[(loaded.labels[i], float(p)) for p, i in zip(v.tolist(), ix.tolist(), strict=True)]
            for v, ix in zip(values, indices, strict=True)]


def read_eval_data(loaded: LoadedClassifier, sources: list[str], encoding: str) -> list[Example]:
    """Labelled examples to score, read the way the run's training data was (all of them, no split)."""
    labelled = from_dict(LabelledConfig, loaded.config.get("labelled", {}))
    examples = [e for s in sources for e in read_examples(Path(s), labelled, encoding)]
    if not examples:
        raise UserError(f"{', '.join(sources)}: no labelled examples; check the columns (--text-col, --label-col)")
    return examples


def evaluate(loaded: LoadedClassifier, examples: list[Example], source: str,
             precision: str = "fp32") -> ClassifierScores:
    """Accuracy, macro-F1, per-class scores and the confusion matrix over ``examples``."""
    truth = label_ids(examples, loaded.labels, source)
    predicted = probabilities(loaded, [t for t, _ in examples], precision).argmax(-1).numpy()
    return ClassifierScores.of(classification_scores(truth, predicted, loaded.labels))


def plot(loaded: LoadedClassifier, result: ClassifierScores, path: Path, what: str) -> None:
    from rnnkit.viz.confusion import plot_confusion

    plot_confusion(np.array(result.confusion), loaded.labels, path,
                   f"{loaded.run.name} on {what}: accuracy {result.accuracy:.3f}, macro-F1 {result.macro_f1:.3f}")
