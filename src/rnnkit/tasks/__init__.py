"""The task table: every task rnnkit trains, and the only place a task name is looked up.

A run directory's config.json names its task; ``task_of`` reads it and returns the
row, so every command over a run (resume, sample, predict, eval, viz, report) asks
the row instead of testing the name.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.captions import CaptionsConfig
from rnnkit.data.conll import TaggedConfig
from rnnkit.data.labelled import LabelledConfig
from rnnkit.data.pairs import PairsConfig
from rnnkit.data.timeseries import SeriesConfig
from rnnkit.errors import UserError
from rnnkit.nn.config import BACKENDS
from rnnkit.tasks.caption import commands as caption_commands
from rnnkit.tasks.caption import run as caption_run
from rnnkit.tasks.caption.model import CaptionConfig
from rnnkit.tasks.classify import commands as classify_commands
from rnnkit.tasks.classify import export as classify_export
from rnnkit.tasks.classify import run as classify_run
from rnnkit.tasks.classify import serving as classify_serving
from rnnkit.tasks.classify.model import ClassifierConfig
from rnnkit.tasks.forecast import commands as forecast_commands
from rnnkit.tasks.forecast import export as forecast_export
from rnnkit.tasks.forecast import run as forecast_run
from rnnkit.tasks.forecast import serving as forecast_serving
from rnnkit.tasks.forecast.model import ForecastConfig
from rnnkit.tasks.interface import Run, Task, check_section_types, resumed, section
from rnnkit.tasks.lines import commands as lines_commands
from rnnkit.tasks.lines import export as lines_export
from rnnkit.tasks.lines import run as line_run
from rnnkit.tasks.lines import serving as lines_serving
from rnnkit.tasks.lines.model import LineConfig
from rnnkit.tasks.lm import commands as lm_commands
from rnnkit.tasks.lm import export as lm_export
from rnnkit.tasks.lm import run as lm_run
from rnnkit.tasks.lm import runtimes as lm_runtimes
from rnnkit.tasks.lm import serving as lm_serving
from rnnkit.tasks.ngram import commands as ngram_commands
from rnnkit.tasks.ngram import run as ngram_run
from rnnkit.tasks.ngram import serving as ngram_serving
from rnnkit.tasks.ngram.run import NGramConfig
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.tasks.tag import commands as tag_commands
from rnnkit.tasks.tag import export as tag_export
from rnnkit.tasks.tag import run as tag_run
from rnnkit.tasks.tag import serving as tag_serving
from rnnkit.tasks.tag.model import TaggerConfig
from rnnkit.tasks.translate import commands as translate_commands
from rnnkit.tasks.translate import export as translate_export
from rnnkit.tasks.translate import run as translate_run
from rnnkit.tasks.translate import serving as translate_serving
from rnnkit.tasks.translate.model import Seq2SeqConfig
from rnnkit.train.config import TrainConfig

# What the tasks that read labelled lines or pairs take from the data section: the rest is the
# language model's stream (sequence length, streams, state resets).
TOKENS = ("tokenizer", "vocab_size", "encoding", "batch_size")
NOT_BYTES = {"tokenizer": ("char", "word", "bpe")}  # the byte tokenizer reads streams (lm, ngram) only
RECURRENT = ("cell", "hidden_size", "num_layers", "dropout", "backend", "nonlinearity", "reset", "weight_drop",
             "locked_dropout")
EMBEDDED = (*RECURRENT, "embedding_size")
TORCH_ONLY = {"backend": BACKENDS}  # the NumPy reference trains language models only

# bf16's parity with fp32 was measured for language models and translators; the other tasks keep fp32
# unless asked.
# Where a task's defaults differ from the language model's, they were measured (README, each task's section).
TASKS: dict[str, Task] = {
    "lm": Task(
        "lm", "a recurrent language model over a stream of characters, words or BPE tokens",
        {"model": section(ModelConfig), "train": section(TrainConfig, minutes=5.0), "data": section(DataConfig)},
        lm_commands.train, lm_run.load, resume=resumed(lm_run.resume, lm_commands.summary), times_backends=True,
        verbs={"sample": lm_commands.sample, "eval": lm_commands.evaluate, "viz": lm_commands.viz},
        serves={"generate": lm_serving.generate, "score": lm_serving.score, "neurons": lm_serving.neurons},
        exports=lm_export.export_onnx, runtime=lm_runtimes.on_runtime),
    "lines": Task(
        "lines", "whole lines (names, titles), optionally conditioned on a label",
        {"model": section(ModelConfig, EMBEDDED, choices=TORCH_ONLY, hidden_size=256, dropout=0.2),
         "line": section(LineConfig),
         "train": section(TrainConfig, minutes=5.0, precision="fp32", lr=3e-3, eval_every=200, patience=20),
         "data": section(DataConfig, TOKENS, choices=NOT_BYTES, batch_size=64), "labelled": section(LabelledConfig)},
        lines_commands.train, line_run.load, resume=resumed(line_run.resume, lines_commands.summary),
        verbs={"sample": lines_commands.sample, "eval": lines_commands.evaluate},
        serves={"generate": lines_serving.generate}, exports=lines_export.export_onnx),
    "ngram": Task(
        "ngram", "a count-based n-gram language model on the same split and tokens",
        {"ngram": section(NGramConfig),
         "data": section(DataConfig, ("tokenizer", "vocab_size", "val_fraction", "encoding", "encoding_errors",
                                       "max_chars"))},
        ngram_commands.train, ngram_run.load, timed=False,
        verbs={"sample": ngram_commands.sample, "eval": ngram_commands.evaluate},
        serves={"generate": ngram_serving.generate, "score": ngram_serving.score}),
    "classify": Task(
        "classify", "a label per line or per file",
        {"model": section(ModelConfig, EMBEDDED, choices=TORCH_ONLY, hidden_size=256, dropout=0.3),
         "classifier": section(ClassifierConfig),
         "train": section(TrainConfig, skip=("sample_length",), minutes=5.0, precision="fp32", lr=3e-3,
                          eval_every=100, warmup_steps=50, patience=20, average=5),  # docs/tuning.md
         "data": section(DataConfig, TOKENS, choices=NOT_BYTES, batch_size=64), "labelled": section(LabelledConfig)},
        classify_commands.train, classify_run.load, resume=resumed(classify_run.resume, classify_commands.summary),
        verbs={"predict": classify_commands.predict, "eval": classify_commands.evaluate},
        serves={"classify": classify_serving.classify}, exports=classify_export.export_onnx),
    "forecast": Task(
        "forecast", "the next values of a CSV series, beside the naive baselines",
        {"model": section(ModelConfig, RECURRENT, choices=TORCH_ONLY, hidden_size=64),
         "forecast": section(ForecastConfig), "series": section(SeriesConfig),
         "train": section(TrainConfig, skip=("sample_length", "precision"), minutes=5.0, precision="fp32",
                          lr=3e-3, eval_every=100, patience=20, warmup_steps=50),  # forecasts run in fp32
         "data": section(DataConfig, ("encoding", "batch_size"), batch_size=64),
         "labelled": section(LabelledConfig, ("split",))},
        forecast_commands.train, forecast_run.load, resume=resumed(forecast_run.resume, forecast_commands.summary),
        verbs={"predict": forecast_commands.predict, "eval": forecast_commands.evaluate},
        serves={"forecast": forecast_serving.forecast}, exports=forecast_export.export_onnx),
    "translate": Task(
        "translate", "sentence pairs: an encoder-decoder with attention, scored with sacreBLEU",
        {"model": section(ModelConfig, (*EMBEDDED, "tie_weights"), choices=TORCH_ONLY, cell="gru",
                          hidden_size=256, embedding_size=256, dropout=0.1),  # docs/tuning.md, "Translator defaults"
         "seq2seq": section(Seq2SeqConfig),
         "train": section(TrainConfig, skip=("sample_length",), minutes=5.0, lr=2e-3,  # precision auto, as lm
                          eval_every=500, patience=10),
         "data": section(DataConfig, TOKENS, choices=NOT_BYTES, tokenizer="word", vocab_size=15000, batch_size=64),
         "pairs": section(PairsConfig), "labelled": section(LabelledConfig, ("split", "keep_duplicates"))},
        translate_commands.train, translate_run.load,
        resume=resumed(translate_run.resume, translate_commands.summary),
        verbs={"predict": translate_commands.predict, "eval": translate_commands.evaluate},
        report_extras=translate_commands.attention_maps, serves={"translate": translate_serving.translate},
        exports=translate_export.export_onnx),
    "tag": Task(
        "tag", "a tag per word (part of speech, named entities): BiLSTM over words and characters, optional CRF",
        {"model": section(ModelConfig, EMBEDDED, choices=TORCH_ONLY, hidden_size=256, embedding_size=100,
                          dropout=0.5),
         "tagger": section(TaggerConfig),
         "train": section(TrainConfig, skip=("sample_length",), minutes=5.0, precision="fp32", lr=3e-3,
                          eval_every=200, warmup_steps=50, patience=10),
         "data": section(DataConfig, ("encoding", "batch_size"), batch_size=32), "tagged": section(TaggedConfig)},
        tag_commands.train, tag_run.load, resume=resumed(tag_run.resume, tag_commands.summary),
        verbs={"predict": tag_commands.predict, "eval": tag_commands.evaluate}, serves={"tag": tag_serving.tag},
        exports=tag_export.export_onnx),
    "caption": Task(
        "caption", "a caption per photo: a frozen pretrained CNN and an LSTM decoder with soft attention, "
        "scored with BLEU and CIDEr-D",
        {"model": section(ModelConfig, EMBEDDED, choices=TORCH_ONLY, hidden_size=512, embedding_size=256,
                          dropout=0.5),
         "caption": section(CaptionConfig),
         "train": section(TrainConfig, skip=("sample_length",), minutes=5.0, precision="fp32", lr=2e-3,
                          eval_every=500, warmup_steps=100, patience=10),
         "data": section(DataConfig, ("encoding", "batch_size"), batch_size=64),
         "captions": section(CaptionsConfig)},
        caption_commands.train, caption_run.load, resume=resumed(caption_run.resume, caption_commands.summary),
        verbs={"predict": caption_commands.predict, "eval": caption_commands.evaluate},
        report_extras=caption_commands.report_pictures, report_heading="Test photos"),
}


def task_named(name: str) -> Task:
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def task_of(run: Path) -> Task:
    """The task a run directory was trained for, from its config.json."""
    from rnnkit.train.checkpoint import read_config

    config = read_config(run)
    name = config.get("task")
    if not isinstance(name, str) or name not in TASKS:
        raise UserError(f"{run}: a run of task {name!r}, which this rnnkit does not know; "
                        f"it knows {', '.join(TASKS)}")
    check_section_types(TASKS[name].sections, config, run / "config.json")
    return TASKS[name]


def open_run(run: Path, device: str = "cpu") -> Run:
    """Load any run directory: its task's loader gives a ``Run`` (model, tokenizers, labels)."""
    return task_of(run).load(run, device)
