"""The classifier's commands: train, resume, predict (top labels) and eval (scores and a confusion matrix)."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.data.corpora import read_lines_given
from rnnkit.errors import UserError
from rnnkit.tasks.requests import EvalRequest, PredictRequest, TrainRequest


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.classify import run as classify_run

    s = request.sections
    run, final = classify_run.train(request.data, s["model"], s["classifier"], s["train"], s["data"], s["labelled"],
                                    request.out, request.device, request.progress, given=request.given)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    from rnnkit.eval.classification import format_report
    from rnnkit.tasks.classify import run as classify_run

    print(f"\nstep {final['step']}: validation accuracy {final['accuracy']:.4f}, macro-F1 {final['macro_f1']:.4f}; "
          f"best weights in {run / 'model.safetensors'}")
    if "test" in final:
        print(f"test split:\n{format_report(final['test'])}\nconfusion matrix: {run / classify_run.CONFUSION_FILE}")
    return 0


def predict(request: PredictRequest) -> int:
    from rnnkit.tasks.classify import run as classify_run

    if request.stream or request.data:
        raise UserError(f"--stream and --data are for forecasters; {request.run} is not one")
    loaded = classify_run.load(request.run, request.device)
    texts = read_lines_given(request.texts, request.file)
    for text, top in zip(texts, classify_run.predict(loaded, texts, request.top_k), strict=True):
        if request.json:
            print(json.dumps({"text": text, "labels": [{"label": y, "probability": round(p, 6)} for y, p in top]},
                             ensure_ascii=False))
        else:
            print(f"{text}\t" + "  ".join(f"{y} {p:.3f}" for y, p in top))
    return 0


def evaluate(request: EvalRequest) -> int:
    from rnnkit.eval.classification import format_report
    from rnnkit.tasks.classify import run as classify_run
    from rnnkit.tasks.runs import read_split

    loaded = classify_run.load(request.run, request.device)
    if request.data:
        examples, what = classify_run.read_eval_data(loaded, request.data, request.encoding), ", ".join(request.data)
        stem = Path(request.data[0]).stem
    else:
        examples, what, stem = read_split(request.run, "test"), "the run's test split", "test"
        if not examples:
            raise UserError(f"{request.run}: the run has no test split (its data came without one); pass DATA "
                            "to score")
    result = classify_run.evaluate(loaded, examples, what, request.precision)
    picture = request.confusion or request.run / f"confusion-{stem}.png"
    classify_run.plot(loaded, result, picture, what)
    if request.json:
        print(json.dumps({k: v for k, v in result.to_dict().items() if k != "confusion"}
                         | {"confusion_png": str(picture)}))
        return 0
    print(f"{what}: {result.examples:,} examples\n{format_report(result.to_dict())}\nconfusion matrix: {picture}")
    return 0
