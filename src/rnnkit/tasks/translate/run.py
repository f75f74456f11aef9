"""Translation runs: ``rnnkit train translate``, then ``predict`` and ``eval``.

A run directory holds config.json (task "translate"), tokenizer.json with the
source and target tokenizers (each fitted on its side of the training pairs), the
weights, and the split as train/val/test.jsonl, so ``rnnkit eval RUN`` scores
the held-out test pairs the model never saw.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.config import from_dict, to_dict
from rnnkit.data.labelled import LabelledConfig
from rnnkit.data.pairs import Pair, PairsConfig, clean, load_pairs, read_aligned, read_tsv
from rnnkit.data.tokenizers import UNK_ID, Tokenizer, tokenizer_from_dict
from rnnkit.decode.beam import Hypothesis
from rnnkit.errors import UserError
from rnnkit.eval.bleu import bleu_by_length, corpus_scores
from rnnkit.eval.results import TranslationScores
from rnnkit.tasks.choices import Choice, apply, explain_grouped
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.runs import (
    SPLITS,
    new_run_dir,
    read_split,
    resolve_device,
    resumed_loop,
    run_header,
    saved_precision,
    write_split,
)
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.tasks.translate.budget import batching_choices, width_choices
from rnnkit.tasks.translate.decoding import Decoding, decode_target, encode_source, encode_target, translate_ids
from rnnkit.tasks.translate.model import SPECIALS, Seq2Seq, Seq2SeqConfig, refuse_bad_shapes
from rnnkit.tasks.translate.task import TranslationTask
from rnnkit.tasks.translate.vocabulary import check_vocabularies, fit_pair_tokenizers, tokenizer_choices
from rnnkit.train import checkpoint
from rnnkit.train.loop import TrainConfig, TrainLoop
from rnnkit.train.precision import resolve_precision

PAIR_KEYS = ("source", "target")


@dataclasses.dataclass
class LoadedTranslator(Run):
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    model: Seq2Seq


def build_model(config: dict, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer) -> Seq2Seq:
    """The run's model; a run saved before attention was scaled keeps its unscaled scores."""
    s2s = from_dict(Seq2SeqConfig, {"scaled_attention": False, **config["seq2seq"]})
    return Seq2Seq(source_tokenizer.vocab_size + SPECIALS, target_tokenizer.vocab_size + SPECIALS,
                   from_dict(ModelConfig, config["model"]), s2s, encoder_reads_both_ways(config))


def encoder_reads_both_ways(config: dict) -> bool:
    """Runs before 0.3 kept this beside the sections; it is the seq2seq section's now."""
    return bool(config["seq2seq"].get("bidirectional", config.get("bidirectional", True)))


def announce(chosen: list[Choice]) -> None:
    """Each automatic choice on stderr, in the one format every task prints."""
    for line in explain_grouped(chosen):
        print(line, file=sys.stderr)


def settled(chosen: list[Choice], *sections: Any) -> list[Any]:
    """The sections with the choices applied, each choice printed first."""
    announce(chosen)
    return apply(chosen, *sections)


def settle_tokens(train_pairs: list[Pair], data: DataConfig, pairs: PairsConfig, s2s: Seq2SeqConfig,
                  given: set[str] | None) -> tuple[list[Choice], tuple[Tokenizer, Tokenizer], DataConfig,
                                                   PairsConfig, Seq2SeqConfig]:
    """Each side's token unit (``vocabulary``), the tokenizers fitted in it, then the batching
    (``budget``; none for a caller from Python, ``given`` None): the choices and the sections."""
    units = tokenizer_choices(train_pairs, data, pairs, given)
    data, pairs = settled(units, data, pairs)
    tokenizers = fit_pair_tokenizers(train_pairs, data, pairs)
    batching = [] if given is None else batching_choices(pair_costs(train_pairs, *tokenizers), data.batch_size,
                                                         given)
    (s2s,) = settled(batching, s2s)
    return units + batching, tokenizers, data, pairs, s2s


def pair_costs(pairs: list[Pair], source_tokenizer: Tokenizer, target_tokenizer: Tokenizer) -> np.ndarray:
    """What each pair costs a token batch: its source, its target and the decoder's start token."""
    return np.array([len(encode_source(source_tokenizer, s)) + len(encode_target(target_tokenizer, t)) + 1
                     for s, t in pairs])


def build_task(model: Seq2Seq, tokenizers: tuple[Tokenizer, Tokenizer], splits: dict[str, list[Pair]],
               config: dict, device: torch.device) -> TranslationTask:
    s2s, train = config["seq2seq"], from_dict(TrainConfig, config["train"])
    return TranslationTask(model, tokenizers, splits["train"], splits["val"], config["data"]["batch_size"],
                           train.seed, device, saved_precision(config), s2s["teacher_forcing"],
                           s2s["label_smoothing"], s2s.get("batch_tokens", 0))  # older runs: pairs a batch


def train(sources: list[str], model_config: ModelConfig, s2s: Seq2SeqConfig, train_config: TrainConfig,
          data: DataConfig, pairs: PairsConfig, labelled: LabelledConfig, out: str | None, device_name: str,
          show_progress: bool | None = None, stop_at: int | None = None,
          given: set[str] | None = None) -> tuple[Path, dict]:
    """A new translation run: returns its directory and the final validation (and test) scores.
    ``given`` names the flags the user set; the others may be chosen from the data (``budget``)."""
    widths = [] if given is None else width_choices(train_config.minutes, given)
    (model_config,) = apply(widths, model_config)
    refuse_bad_shapes(model_config, s2s, s2s.bidirectional)
    check_vocabularies(data, pairs)
    announce(widths)  # after the refusals, which are one line each
    device = resolve_device(device_name)
    splits, origin = load_pairs(sources, pairs.target, pairs, labelled.split, labelled.keep_duplicates,
                                data.encoding, train_config.seed)
    chosen, (source_tokenizer, target_tokenizer), data, pairs, s2s = settle_tokens(
        splits["train"], data, pairs, s2s, given)
    precision = resolve_precision(train_config.precision, device)
    train_config = dataclasses.replace(train_config, precision=precision)  # saved resolved, once
    run = new_run_dir(out, sources or [pairs.source])
    for name in SPLITS:
        write_split(run, name, splits[name], PAIR_KEYS)
    config = run_header("translate", sources or [pairs.source, pairs.target], split=origin,
                        model=to_dict(model_config), seq2seq=to_dict(s2s),
                        train=to_dict(train_config), data=to_dict(data), pairs=to_dict(pairs),
                        auto=[choice.to_dict() for choice in widths + chosen])
    checkpoint.write_json(run / checkpoint.CONFIG, config)
    checkpoint.write_json(run / checkpoint.TOKENIZER, {"source": source_tokenizer.to_dict(),
                                                       "target": target_tokenizer.to_dict()})
    torch.manual_seed(train_config.seed)
    model = build_model(config, source_tokenizer, target_tokenizer).to(device)
    print(f"run {run}: {len(splits['train']):,} training, {len(splits['val']):,} validation and "
          f"{len(splits['test']):,} test pairs ({origin}); vocabularies {source_tokenizer.vocab_size:,} source "
          f"{source_tokenizer.kind}, {target_tokenizer.vocab_size:,} target {target_tokenizer.kind}; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{model_config.num_layers}x{model_config.hidden_size} {'bidirectional ' if s2s.bidirectional else ''}"
          f"{model_config.cell}, attention {s2s.attention}, on {device}, {precision}", file=sys.stderr)
    task = build_task(model, (source_tokenizer, target_tokenizer), splits, config, device)
    final = TrainLoop(model, task, train_config, run, show_progress).fit(stop_at=stop_at)
    return run, finish(run, final, splits, device_name)


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None,
           stop_at: int | None = None) -> tuple[Path, dict]:
    config = checkpoint.read_config(run)
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    config["train"] = to_dict(train_config)
    source_tokenizer, target_tokenizer = read_tokenizers(run)
    splits = {name: read_split(run, name, PAIR_KEYS) for name in SPLITS}
    device = resolve_device(device_name)
    model = build_model(config, source_tokenizer, target_tokenizer).to(device)
    task = build_task(model, (source_tokenizer, target_tokenizer), splits, config, device)
    final = resumed_loop(run, model, task, train_config, config, device, show_progress).fit(stop_at=stop_at)
    return run, finish(run, final, splits, device_name)


def finish(run: Path, final: dict, splits: dict[str, list[Pair]], device_name: str) -> dict:
    """With the best weights: the beam's length penalty chosen on validation (``length_penalty``),
    then greedy BLEU on the held-out test pairs (``rnnkit eval RUN --beam 5`` scores the beam)."""
    from rnnkit.tasks.translate import length_penalty

    loaded = load(run, device_name)
    beam = int(loaded.config["seq2seq"].get("tune_length_penalty", 0))
    if beam > 1 and splits["val"]:
        tuned = length_penalty.tune(loaded, splits["val"], beam)
        length_penalty.store(run, tuned)
        final = {**final, "length_penalty": tuned}
    if not splits["test"]:
        return final
    return {**final, "test": evaluate(loaded, splits["test"], Decoding()).to_dict()}


def read_tokenizers(run: Path) -> tuple[Tokenizer, Tokenizer]:
    both = checkpoint.read_json(run / checkpoint.TOKENIZER)
    if "source" not in both or "target" not in both:
        raise UserError(f"{run / checkpoint.TOKENIZER}: not a translation run's tokenizers; train again")
    return tokenizer_from_dict(both["source"]), tokenizer_from_dict(both["target"])


@loader("translate", "a translator")
def load(run: Path, device_name: str = "cpu", weights: str = checkpoint.BEST) -> LoadedTranslator:
    config = checkpoint.read_config(run)
    device = resolve_device(device_name)
    source_tokenizer, target_tokenizer = read_tokenizers(run)
    model = build_model(config, source_tokenizer, target_tokenizer)
    checkpoint.load_weights(run / weights, model, device)
    return LoadedTranslator(run, config, source_tokenizer, target_tokenizer, model.to(device).eval())


def translate(loaded: LoadedTranslator, sentences: list[str], decoding: Decoding,
              precision: str = "fp32") -> list[list[tuple[str, Hypothesis]]]:
    """Each sentence's ``n_best`` translations with their hypotheses (tokens, scores, attention)."""
    if not sentences:
        raise UserError("nothing to translate; pass sentences as arguments or --file with one per line")
    ids = [encode_source(loaded.source_tokenizer, clean(s)) for s in sentences]
    if any(len(i) == 0 for i in ids):
        raise UserError("an empty sentence cannot be translated; drop blank lines")
    found = translate_ids(loaded.model, ids, decoding, resolve_precision(precision, loaded.device))
    return [[(decode_target(loaded.target_tokenizer, h.tokens), h) for h in hyps] for hyps in found]


def read_eval_pairs(loaded: LoadedTranslator, sources: list[str], source_file: str | None, target_file: str | None,
                    encoding: str) -> list[Pair]:
    """Pairs to score, oriented as the run was trained (``--reverse-pairs`` applies to a TSV again)."""
    if source_file or target_file:
        if not (source_file and target_file):
            raise UserError("eval: give both --source FILE and --target FILE, or a TSV of pairs")
        return read_aligned(Path(source_file), Path(target_file), encoding)
    pairs = [p for s in sources for p in read_tsv(Path(s), encoding)]
    if loaded.config.get("pairs", {}).get("reverse_pairs"):
        pairs = [(b, a) for a, b in pairs]
    return pairs


def evaluate(loaded: LoadedTranslator, pairs: list[Pair], decoding: Decoding,
             precision: str = "fp32") -> TranslationScores:
    """sacreBLEU and chrF over ``pairs``, with BLEU by source length."""
    outputs = translate(loaded, [s for s, _ in pairs], decoding, precision)
    hypotheses = [found[0][0] for found in outputs]
    references = [t for _, t in pairs]
    unknown = UNK_ID + SPECIALS  # the tokenizers' <unk>, as the model numbers it
    in_output = sum(int(t) == unknown for found in outputs for t in found[0][1].tokens)
    in_source = sum(int((encode_source(loaded.source_tokenizer, clean(s)) == unknown).sum()) for s, _ in pairs)
    return TranslationScores.of(corpus_scores(hypotheses, references), beam=decoding.beam,
                                by_length=bleu_by_length([s for s, _ in pairs], hypotheses, references),
                                unknown_in_output=in_output, unknown_in_source=in_source)
