"""Captioner runs: ``rnnkit train caption DATA``, then ``predict`` on photos and ``eval`` on the test split.

A run directory holds config.json (task "caption", the images folder), tokenizer.json
(the words), captions.json (each split's images and every image's captions, so a
resumed run and ``eval`` read the same photos), features.safetensors (the frozen
encoder's output for those photos, computed once) and the weights.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from rnnkit.config import from_dict, to_dict
from rnnkit.data.captions import CaptionedImages, CaptionsConfig, load_captioned_images
from rnnkit.decode.beam import Hypothesis
from rnnkit.errors import UserError
from rnnkit.eval.bleu import caption_bleu
from rnnkit.eval.cider import cider_d
from rnnkit.eval.results import CaptionScores
from rnnkit.tasks.caption.decoding import CaptionSearch, caption_grids
from rnnkit.tasks.caption.encoder import FEATURE_SIZES
from rnnkit.tasks.caption.features import (
    FEATURES,
    Features,
    compute_features,
    encode_images,
    read_features,
    reuse_features,
)
from rnnkit.tasks.caption.model import CaptionConfig, Captioner
from rnnkit.tasks.caption.task import CaptionTask, model_inputs
from rnnkit.tasks.caption.vocab import CaptionVocab
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.runs import SPLITS, new_run_dir, resolve_device, resumed_loop, run_header, saved_precision
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint
from rnnkit.train.loop import TrainConfig, TrainLoop
from rnnkit.train.precision import resolve_precision

CAPTIONS = "captions.json"


@dataclasses.dataclass
class LoadedCaptioner(Run):
    vocab: CaptionVocab
    model: Captioner

    @property
    def encoder(self) -> str:
        return self.config["caption"]["encoder"]


def build_model(config: dict, vocab: CaptionVocab) -> Captioner:
    caption = from_dict(CaptionConfig, config["caption"])
    return Captioner(vocab.size, FEATURE_SIZES[caption.encoder], from_dict(ModelConfig, config["model"]), caption)


def build_task(model: Captioner, vocab: CaptionVocab, features: Features, data: CaptionedImages, config: dict,
               device: torch.device) -> CaptionTask:
    caption, train = config["caption"], from_dict(TrainConfig, config["train"])
    settings = {"seed": train.seed, "batch_size": config["data"]["batch_size"], "select": caption["select"],
                "doubly_stochastic": caption["doubly_stochastic"], "max_words": caption["max_words"]}
    return CaptionTask(model, vocab, features, data.splits, data.captions, settings, device, saved_precision(config))


def train(sources: list[str], model_config: ModelConfig, caption: CaptionConfig, train_config: TrainConfig,
          data: DataConfig, captions: CaptionsConfig, out: str | None, device_name: str,
          show_progress: bool | None = None) -> tuple[Path, dict]:
    """A new captioner run: its directory and the final validation (and test) scores."""
    if len(sources) != 1:
        raise UserError("rnnkit train caption reads one data folder (images and a captions file) or one "
                        "captions file")
    device = resolve_device(device_name)
    found = load_captioned_images(Path(sources[0]), captions, train_config.seed, data.encoding)
    vocab = CaptionVocab.fit([c for name in found.splits["train"] for c in found.captions[name]], caption.min_count)
    train_config = dataclasses.replace(train_config, precision=resolve_precision(train_config.precision, device))
    run = new_run_dir(out, sources)
    names = [n for split in SPLITS for n in found.splits[split]]
    features = (reuse_features(run, Path(caption.features), names, caption.encoder) if caption.features
                else compute_features(run, found.folder, names, caption.encoder, device, show_progress))
    config = run_header("caption", sources, split=found.origin, images=str(found.folder.resolve()),
                        model=to_dict(model_config), caption=to_dict(caption), train=to_dict(train_config),
                        data=to_dict(data), captions=to_dict(captions))
    checkpoint.write_json(run / CAPTIONS, {"splits": found.splits, "captions": found.captions})
    checkpoint.write_json(run / checkpoint.TOKENIZER, vocab.to_dict())
    checkpoint.write_json(run / checkpoint.CONFIG, config)
    torch.manual_seed(train_config.seed)
    model = build_model(config, vocab).to(device)
    print(f"run {run}: {len(found.splits['train']):,} training, {len(found.splits['val']):,} validation and "
          f"{len(found.splits['test']):,} test images ({found.origin}); {vocab.size:,} words; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, {model_config.num_layers}x"
          f"{model_config.hidden_size} {model_config.cell}, attention {caption.attention}, encoder "
          f"{caption.encoder}, on {device}, {train_config.precision}", file=sys.stderr)
    task = build_task(model, vocab, features, found, config, device)
    final = TrainLoop(model, task, train_config, run, show_progress).fit()
    return run, finish(run, final, device_name)


def read_captions(run: Path, config: dict) -> CaptionedImages:
    saved = checkpoint.read_json(run / CAPTIONS)
    if not isinstance(saved.get("splits"), dict) or not isinstance(saved.get("captions"), dict):
        raise UserError(f"{run / CAPTIONS}: not a captioner's split; train again")
    return CaptionedImages(Path(config["images"]), saved["splits"], saved["captions"], config.get("split", ""))


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None) -> tuple[Path, dict]:
    config = checkpoint.read_config(run)
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    config["train"] = to_dict(train_config)
    vocab, data = read_vocab(run), read_captions(run, config)
    device = resolve_device(device_name)
    model = build_model(config, vocab).to(device)
    task = build_task(model, vocab, read_features(run / FEATURES), data, config, device)
    final = resumed_loop(run, model, task, train_config, config, device, show_progress).fit()
    return run, finish(run, final, device_name)


def finish(run: Path, final: dict, device_name: str) -> dict:
    """With the best weights: greedy BLEU and CIDEr-D on the held-out test photos."""
    loaded = load(run, device_name)
    test = read_captions(run, loaded.config).splits["test"]
    return {**final, "test": evaluate(loaded, test, CaptionSearch()).to_dict()} if test else final


def read_vocab(run: Path) -> CaptionVocab:
    try:
        return CaptionVocab.from_dict(checkpoint.read_json(run / checkpoint.TOKENIZER))
    except ValueError:
        raise UserError(f"{run / checkpoint.TOKENIZER}: not a captioner's words; train again") from None


@loader("caption", "a captioner")
def load(run: Path, device_name: str = "cpu", weights: str = checkpoint.BEST) -> LoadedCaptioner:
    config = checkpoint.read_config(run)
    device = resolve_device(device_name)
    vocab = read_vocab(run)
    model = build_model(config, vocab)
    checkpoint.load_weights(run / weights, model, device)
    return LoadedCaptioner(run, config, vocab, model.to(device).eval())


def caption_photos(loaded: LoadedCaptioner, paths: list[Path], search: CaptionSearch,
                   ) -> list[list[tuple[str, Hypothesis]]]:
    """Each photo's ``n_best`` captions with their hypotheses (words, scores, attention)."""
    if not paths:
        raise UserError("nothing to caption; pass image files")
    grid, pooled = encode_images(paths, loaded.encoder, loaded.device, show_progress=False)
    features = Features([str(p) for p in paths], grid.half(), pooled.half(), loaded.encoder)
    return caption_features(loaded, features, [str(p) for p in paths], search)


def caption_features(loaded: LoadedCaptioner, features: Features, names: list[str], search: CaptionSearch,
                     ) -> list[list[tuple[str, Hypothesis]]]:
    inputs = model_inputs(features, names, loaded.model.kind)
    found = caption_grids(loaded.model, inputs, search)
    return [[(loaded.vocab.decode(h.tokens), h) for h in hyps] for hyps in found]


def evaluate(loaded: LoadedCaptioner, names: list[str], search: CaptionSearch) -> CaptionScores:
    """BLEU-1..4 and CIDEr-D of the run's captions of ``names`` (photos of its split) against all references."""
    data = read_captions(loaded.run, loaded.config)
    return score(loaded, read_features(loaded.run / FEATURES), names, [data.captions[n] for n in names], search)

def evaluate_data(loaded: LoadedCaptioner, data: Path, search: CaptionSearch) -> CaptionScores:
    """Scores on another captioned folder: its test split when it has split files, else every photo."""
    found = load_captioned_images(data, CaptionsConfig(), 0, split=False)
    names = found.splits["test"]
    if not names:
        raise UserError(f"{data}: its split has no test images; score a folder whose split lists some")
    grid, pooled = encode_images([found.folder / n for n in names], loaded.encoder, loaded.device)
    features = Features(names, grid.half(), pooled.half(), loaded.encoder)
    return score(loaded, features, names, [found.captions[n] for n in names], search)


def score(loaded: LoadedCaptioner, features: Features, names: list[str], references: list[list[str]],
          search: CaptionSearch) -> CaptionScores:
    hypotheses = [f[0][0] for f in caption_features(loaded, features, names, search)]
    bleu = caption_bleu(hypotheses, references)
    cider, _ = cider_d(hypotheses, references)
    words = {w for h in hypotheses for w in h.split()}
    return CaptionScores.of(bleu, cider=cider, images=len(names), beam=search.beam, distinct_words=len(words),
                            mean_words=sum(len(h.split()) for h in hypotheses) / max(len(hypotheses), 1))
