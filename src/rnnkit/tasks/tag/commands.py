"""The tagger's commands: train, resume, predict (a tag per word) and eval (accuracy, entity F1, confusion)."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.errors import UserError
from rnnkit.tasks.requests import EvalRequest, PredictRequest, TrainRequest

CONLL_SUFFIXES = (".conll", ".conllu", ".iob", ".bio")


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.tag import run as tag_run

    s = request.sections
    run, final = tag_run.train(request.data, s["model"], s["tagger"], s["train"], s["data"], s["tagged"],
                               request.out, request.device, request.progress)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    from rnnkit.tasks.tag.scoring import CONFUSION_FILE, format_report

    f1 = f", entity F1 {final['f1']:.4f}" if "f1" in final else ""
    print(f"\nstep {final['step']}: validation accuracy {final['accuracy']:.4f}{f1}; "
          f"best weights in {run / 'model.safetensors'}")
    if "test" in final:
        print(f"test split:\n{format_report(final['test'])}\nconfusion matrix: {run / CONFUSION_FILE}")
    return 0


def read_sentences(texts: list[str], file: Path | None) -> list[list[str]]:
    """Sentences to tag: each argument, then the file's, whitespace-tokenised one a line, or read as
    a CoNLL file (by its suffix, or tabs in it) for its words."""
    from rnnkit.data.conll import TaggedConfig, read_tagged
    from rnnkit.data.corpora import read_text_file

    sentences = [text.split() for text in texts if text.split()]
    if file is not None:
        text = read_text_file(file)
        if file.suffix.lower() in CONLL_SUFFIXES or "\t" in text:
            sentences += [s.words for s in read_tagged(file, TaggedConfig(max_length=10**9), tagged=False)]
        else:
            sentences += [line.split() for line in text.splitlines() if line.split()]
    if not sentences:
        raise UserError("nothing to tag; pass sentences as arguments or --file (one sentence a line, or CoNLL)")
    return sentences


def predict(request: PredictRequest) -> int:
    from rnnkit.tasks.tag import run as tag_run

    if request.stream or request.data:
        raise UserError(f"--stream and --data are for forecasters; {request.run} is not one")
    loaded = tag_run.load(request.run, request.device)
    sentences = read_sentences(request.texts, request.file)
    for words, tags in zip(sentences, tag_run.tag(loaded, sentences), strict=True):
        if request.json:
            print(json.dumps({"words": words, "tags": tags}, ensure_ascii=False))
        else:
            print("\n".join(f"{w}\t{t}" for w, t in zip(words, tags, strict=True)) + "\n")
    return 0


def evaluate(request: EvalRequest) -> int:
    from rnnkit.data.conll import Sentence, TaggedConfig, read_tagged
    from rnnkit.tasks.runs import read_split
    from rnnkit.tasks.tag import run as tag_run
    from rnnkit.tasks.tag.scoring import evaluate as score
    from rnnkit.tasks.tag.scoring import format_report, plot

    loaded = tag_run.load(request.run, request.device)
    if request.data:
        config = TaggedConfig(tag_col=loaded.config.get("tagged", {}).get("tag_col", "auto"), max_length=10**9)
        sentences = [s for d in request.data for s in read_tagged(Path(d), config, request.encoding)]
        what, stem = ", ".join(request.data), Path(request.data[0]).stem
    else:
        test = read_split(request.run, "test", tag_run.KEYS)
        sentences = [Sentence(w, t, 0, str(request.run / "test.jsonl")) for w, t in test]
        what, stem = "the run's test split", "test"
    if not sentences:
        raise UserError(f"{what}: no tagged sentences to score; pass a tagged file (CoNLL-U, token<TAB>tag, "
                        "CoNLL-2003 columns)")
    result = score(loaded, sentences, request.precision)
    picture = request.confusion or request.run / f"confusion-{stem}.png"
    plot(loaded, result, picture, what)
    if request.json:
        print(json.dumps({k: v for k, v in result.items() if k != "confusion"} | {"confusion_png": str(picture)}))
        return 0
    print(f"{what}:\n{format_report(result)}\nconfusion matrix: {picture}")
    return 0
