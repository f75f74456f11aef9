"""Tagger runs: ``rnnkit train tag``, then ``predict`` and ``eval``.

A run directory holds config.json (task "tag", the tags in order), tokenizer.json
(the word and character vocabularies), the weights, and its split as
train/val/test.jsonl (each line a sentence's words and tags), so a resumed run
trains on the same sentences and ``rnnkit eval RUN`` scores the test split.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from rnnkit.config import from_dict, to_dict
from rnnkit.data.conll import Sentence, TaggedConfig, is_bio, load_tagged
from rnnkit.data.labelled import split_fractions
from rnnkit.errors import UserError
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.runs import SPLITS, new_run_dir, read_split, resolve_device, resumed_loop, run_header, write_split
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.tasks.tag.model import Tagger, TaggerConfig, predict_tags
from rnnkit.tasks.tag.task import TaggingTask
from rnnkit.tasks.tag.vocab import TagVocab
from rnnkit.train import checkpoint
from rnnkit.train.loop import TrainConfig, TrainLoop
from rnnkit.train.precision import resolve_precision

KEYS = ("words", "tags")
Tagged = tuple[list[str], list[str]]


@dataclasses.dataclass
class LoadedTagger(Run):
    vocab: TagVocab
    labels: list[str]
    model: Tagger

    @property
    def tokenizer(self) -> TagVocab:
        return self.vocab  # what the server reports as the vocabulary


def _model(vocab: TagVocab, config: dict) -> Tagger:
    return Tagger(len(vocab.words), len(vocab.chars), vocab.tags, from_dict(ModelConfig, config["model"]),
                  from_dict(TaggerConfig, config["tagger"]))


def build_task(model: Tagger, vocab: TagVocab, splits: dict[str, list[Tagged]], config: dict,
               device: torch.device) -> TaggingTask:
    encoded = {name: [vocab.encode(w, t) for w, t in splits[name]] for name in ("train", "val")}
    train_config = from_dict(TrainConfig, config["train"])
    head = from_dict(TaggerConfig, config["tagger"])
    return TaggingTask(model, vocab, encoded["train"], encoded["val"], [w for w, _ in splits["val"]],
                       vocab.singletons(splits["train"]), config["data"]["batch_size"], train_config.seed,
                       device, train_config.precision, head.unk_replace)


def train(sources: list[str], model_config: ModelConfig, head: TaggerConfig, train_config: TrainConfig,
          data: DataConfig, tagged: TaggedConfig, out: str | None, device_name: str,
          show_progress: bool | None = None, stop_at: int | None = None) -> tuple[Path, dict]:
    """A new tagger run: its directory and the final validation (and test) scores."""
    device = resolve_device(device_name)
    found, origin = load_tagged(sources, tagged, data.encoding, train_config.seed, split_fractions(tagged.split))
    splits = {name: [(s.words, s.tags) for s in found[name]] for name in SPLITS}
    vocab = TagVocab.fit(splits["train"], head.lowercase)
    check_known_tags(found["val"] + found["test"], vocab)  # before training, not after it
    if head.constrain_bio and not (head.crf and is_bio(vocab.tags)):
        raise UserError("--constrain-bio needs --crf and BIO entity tags (B-X, I-X, O); "
                        f"these tags are {', '.join(vocab.tags[:6])}")
    train_config = dataclasses.replace(train_config, precision=resolve_precision(train_config.precision, device))
    run = new_run_dir(out, sources)
    for name in SPLITS:
        write_split(run, name, splits[name], KEYS)
    config = run_header("tag", sources, labels=vocab.tags, split=origin, model=to_dict(model_config),
                        tagger=to_dict(head), train=to_dict(train_config), data=to_dict(data),
                        tagged=to_dict(tagged))
    checkpoint.write_json(run / checkpoint.CONFIG, config)
    checkpoint.write_json(run / checkpoint.TOKENIZER, vocab.to_dict())
    torch.manual_seed(train_config.seed)
    model = _model(vocab, config).to(device)
    words = sum(len(w) for w, _ in splits["train"])
    print(f"run {run}: {len(splits['train']):,} training sentences ({words:,} words), {len(splits['val']):,} "
          f"validation, {len(splits['test']):,} test ({origin}); {len(vocab.tags)} tags, {len(vocab.words):,} "
          f"words, {len(vocab.chars):,} characters; {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{model_config.num_layers}x{model_config.hidden_size} {'bidirectional ' if head.bidirectional else ''}"
          f"{model_config.cell}{' + CRF' if head.crf else ''} on {device}, {train_config.precision}",
          file=sys.stderr)
    task = build_task(model, vocab, splits, config, device)
    final = TrainLoop(model, task, train_config, run, show_progress).fit(stop_at=stop_at)
    return run, finish(run, final, device_name)


def check_known_tags(sentences: list[Sentence], vocab: TagVocab) -> None:
    """A tag the training split never has, in validation or scored data: refused, naming its line."""
    for sentence in sentences:
        unknown = [t for t in sentence.tags if t not in vocab.tag_index]
        if unknown:
            raise UserError(f"{sentence.source}:{sentence.line}: the sentence here has the tag {unknown[0]!r}, "
                            "which the training data never has "
                            f"(it has {', '.join(vocab.tags[:10])}{'...' if len(vocab.tags) > 10 else ''}); "
                            "fix the tag or add it to the training data")


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None,
           stop_at: int | None = None) -> tuple[Path, dict]:
    config = checkpoint.read_config(run)
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    config["train"] = to_dict(train_config)
    vocab = TagVocab.from_dict(checkpoint.read_json(run / checkpoint.TOKENIZER))
    splits = {name: read_split(run, name, KEYS) for name in ("train", "val")}
    device = resolve_device(device_name)
    model = _model(vocab, config).to(device)
    task = build_task(model, vocab, splits, config, device)
    final = resumed_loop(run, model, task, train_config, config, device, show_progress).fit(stop_at=stop_at)
    return run, finish(run, final, device_name)


def finish(run: Path, final: dict, device_name: str) -> dict:
    """With the best weights: scores on the held-out test split and its confusion matrix beside them."""
    test = read_split(run, "test", KEYS)
    if not test:
        return final
    from rnnkit.tasks.tag.scoring import CONFUSION_FILE, evaluate, plot

    loaded = load(run, device_name)
    result = evaluate(loaded, [Sentence(w, t, 0, str(run / "test.jsonl")) for w, t in test])
    plot(loaded, result, run / CONFUSION_FILE, "test split")
    return {**final, "test": result}


@loader("tag", "a tagger")
def load(run: Path, device_name: str = "cpu", weights: str = checkpoint.BEST) -> LoadedTagger:
    config = checkpoint.read_config(run)
    vocab = TagVocab.from_dict(checkpoint.read_json(run / checkpoint.TOKENIZER))
    model = _model(vocab, config)
    device = resolve_device(device_name)
    checkpoint.load_weights(run / weights, model, device)
    return LoadedTagger(run, config, vocab, vocab.tags, model.to(device).eval())


def tag(loaded: LoadedTagger, sentences: list[list[str]], precision: str = "fp32") -> list[list[str]]:
    """The predicted tags of whitespace-tokenised sentences (an empty one gets none)."""
    present = [i for i, words in enumerate(sentences) if words]
    encoded = [loaded.vocab.encode(sentences[i]) for i in present]
    predicted, _ = predict_tags(loaded.model, encoded, loaded.device, resolve_precision(precision, loaded.device))
    tags: list[list[str]] = [[] for _ in sentences]
    for index, row in zip(present, predicted, strict=True):
        tags[index] = [loaded.vocab.tags[i] for i in row]
    return tags

