"""The captioner's commands: train, caption photos (with attention pictures), score BLEU and CIDEr-D."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.errors import UserError
from rnnkit.tasks.requests import Decoding, EvalRequest, PredictRequest, TrainRequest

if TYPE_CHECKING:
    from rnnkit.decode.beam import Hypothesis
    from rnnkit.tasks.caption.run import LoadedCaptioner

REPORT_IMAGES, REPORT_ATTENTION = 20, 3


def search_of(args: Decoding, loaded: LoadedCaptioner):
    from rnnkit.tasks.caption.decoding import CaptionSearch

    args.check()
    return CaptionSearch(beam=args.beam, alpha=args.alpha or 0.0, n_best=args.n_best,
                         max_words=args.max_length or loaded.config["caption"]["max_words"])


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.caption import run as caption_run

    s = request.sections
    run, final = caption_run.train(request.data, s["model"], s["caption"], s["train"], s["data"], s["captions"],
                                   request.out, request.device, request.progress)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    print(f"\nstep {final['step']}: validation BLEU-4 {final['bleu4']:.2f}, CIDEr-D {final['cider']:.3f} "
          f"(greedy); the best is in {run / 'model.safetensors'}")
    if "test" in final:
        test = final["test"]
        print(f"test split, greedy: BLEU-1..4 {test['bleu1']:.1f} / {test['bleu2']:.1f} / {test['bleu3']:.1f} / "
              f"{test['bleu4']:.1f}  CIDEr-D {test['cider']:.3f}  ({test['images']:,} images)\n"
              f"  compare beams with: rnnkit eval {run} --beam 3")
    return 0


def predict(args: PredictRequest) -> int:
    from rnnkit.tasks.caption import run as caption_run

    if args.stream or args.data:
        raise UserError(f"--stream and --data are for forecasters; {args.run} is a captioner")
    loaded = caption_run.load(args.run, args.device)
    paths = [Path(t) for t in args.texts] + ([Path(line) for line in args.file.read_text().split()]
                                             if args.file else [])
    results = caption_run.caption_photos(loaded, paths, search_of(args, loaded))
    for path, found in zip(paths, results, strict=True):
        if args.json:
            print(json.dumps({"image": str(path), "captions": [
                {"text": text, "log_prob": round(h.log_prob, 4), "score": round(h.score, 4)} for text, h in found]}))
        elif len(found) == 1:
            print(f"{path}\t{found[0][0]}")
        else:
            print(str(path) + "".join(f"\n  {h.log_prob:8.3f}  {text}" for text, h in found))
    if args.show_attention:
        written = draw_attention(loaded, paths, results, args.show_attention)
        print("attention: " + ", ".join(str(p) for p in written))
    return 0


def draw_attention(loaded: LoadedCaptioner, paths: list[Path], results: list[list[tuple[str, Hypothesis]]],
                   out: Path) -> list[Path]:
    """One grid per photo (``out``, then ``out-2.png``...): the photo under each word's attention."""
    from rnnkit.data.images import load_image
    from rnnkit.viz.caption_attention import plot_caption_attention

    if loaded.model.attention is None:
        raise UserError(f"--show-attention: {loaded.run} was trained with --attention none, which has no "
                        "attention weights")
    written = []
    for index, (path, found) in enumerate(zip(paths, results, strict=True)):
        text, best = found[0]
        words = [loaded.vocab.word(t) for t in best.tokens] + (["<end>"] if best.ended else [])
        target = out if index == 0 else out.with_name(f"{out.stem}-{index + 1}{out.suffix or '.png'}")
        plot_caption_attention(load_image(path), words, best.attention.numpy()[:len(words)], target, text)
        written.append(target)
    return written


def evaluate(args: EvalRequest) -> int:
    from rnnkit.tasks.caption import run as caption_run

    loaded = caption_run.load(args.run, args.device)
    if len(args.data) > 1:
        raise UserError("eval: give one data folder of captioned photos (or none: the run's test split)")
    search = search_of(args, loaded)
    if args.data:
        result, what = caption_run.evaluate_data(loaded, Path(args.data[0]), search), args.data[0]
    else:
        test = caption_run.read_captions(args.run, loaded.config).splits["test"]
        if not test:
            raise UserError(f"{args.run}: the run has no test split; pass a data folder to score")
        result, what = caption_run.evaluate(loaded, test, search), "the run's test split"
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    alpha = f", alpha {search.alpha:g}" if search.alpha else ""
    way = "greedy" if search.beam == 1 else f"beam {search.beam}{alpha}"
    print(f"{what}: {result.images:,} images, {way}\n"
          f"BLEU-1 {result.bleu1:.2f}  BLEU-2 {result.bleu2:.2f}  BLEU-3 {result.bleu3:.2f}  "
          f"BLEU-4 {result.bleu4:.2f}  ({result.bleu_signature})\n"
          f"CIDEr-D {result.cider:.3f}\n"
          f"captions: {result.mean_words:.1f} words on average, {result.distinct_words:,} different words")
    return 0


def report_pictures(run: Path, folder: Path) -> list[tuple[str, Path]]:
    """For the training report: test photos with the model's caption and the people's, and a few
    attention grids."""
    from PIL import Image

    from rnnkit.tasks.caption import run as caption_run
    from rnnkit.tasks.caption.decoding import CaptionSearch

    loaded = caption_run.load(run)
    data = caption_run.read_captions(run, loaded.config)
    names = (data.splits["test"] or data.splits["val"])[:REPORT_IMAGES]
    found = caption_run.caption_features(loaded, caption_run.read_features(run / caption_run.FEATURES), names,
                                         CaptionSearch(max_words=loaded.config["caption"]["max_words"]))
    pictures = []
    for index, (name, hyps) in enumerate(zip(names, found, strict=True)):
        path = folder / f"report-photo-{index + 1}.png"
        with Image.open(data.folder / name) as photo:
            photo.convert("RGB").resize((224, 224)).save(path)
        people = " | ".join(data.captions[name])
        pictures.append((f"{name}: {hyps[0][0]}  (people: {people})", path))
    if loaded.model.attention is not None:
        paths = [data.folder / n for n in names[:REPORT_ATTENTION]]
        written = draw_attention(loaded, paths, found[:REPORT_ATTENTION], folder / "report-attention-1.png")
        pictures += [(f"where it looked: {names[i]}", p) for i, p in enumerate(written)]
    return pictures
