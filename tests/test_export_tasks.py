"""ONNX export of every task with a recurrent model: ONNX Runtime computes what PyTorch does.

Padded batches are the point for the tasks that read whole sequences: each row must stop at
its own length in the exported graph as it does in PyTorch's packed sequences."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.sequences import pad
from rnnkit.data.tokenizers import encode_texts

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e .[dev])")
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(scope="module")
def exported(served_runs, tmp_path_factory):
    """Each task's run exported once: task -> (folder, model.json)."""
    folders = {}
    for task in ("classify", "lines", "forecast", "tag", "translate"):
        out = tmp_path_factory.mktemp(task)
        assert main(["export", str(served_runs[task]), "--out", str(out)]) == 0
        folders[task] = (out, json.loads((out / "model.json").read_text()))
    return folders


def session(folder, name):
    return ort.InferenceSession(str(folder / name))


def test_a_classifier_scores_a_padded_batch_as_pytorch_scores_each_text(served_runs, exported):
    from rnnkit.tasks.classify import run as classify_run
    from rnnkit.tasks.classify.model import predict_logits

    loaded = classify_run.load(served_runs["classify"])
    folder, description = exported["classify"]
    texts = ["Katomi", "Ovskyan", "Ko", "Mikotokatomiko", "Anov"]
    sequences = encode_texts(loaded.tokenizer, texts)
    ids, lengths = pad(sequences)
    logits = session(folder, "classify.onnx").run(None, {"tokens": ids.numpy(), "lengths": lengths.numpy()})[0]
    expected = predict_logits(loaded.model, sequences, torch.device("cpu"), batch_size=1).numpy()  # one at a time
    np.testing.assert_allclose(logits, expected, **TOLERANCE)
    assert description["labels"] == loaded.labels and description["pooling"] == loaded.model.pooling


@pytest.mark.parametrize("batch", [1, 8])
def test_a_line_models_step_agrees_with_its_sampler_over_100_carried_steps(served_runs, exported, batch):
    from rnnkit.tasks.lines import run as line_run

    loaded = line_run.load(served_runs["lines"])
    folder, description = exported["lines"]
    labels = torch.arange(batch) % len(loaded.labels)
    stepper = loaded.model.conditioned(labels).make_stepper()
    graph = session(folder, "step.onnx")
    names = description["step"]["inputs"][2:]
    tokens = torch.full((batch,), description["boundary"])
    state, ours = [np.zeros((batch, description["hidden_size"]), np.float32) for _ in names], None
    for _ in range(100):
        logits, ours = stepper.step(tokens, ours)
        feed = {"tokens": tokens.numpy(), "labels": labels.numpy(), **dict(zip(names, state, strict=True))}
        outputs = graph.run(None, feed)
        np.testing.assert_allclose(outputs[0], logits.numpy(), **TOLERANCE)
        flat = [t for layer in ours for t in (layer if isinstance(layer, tuple) else (layer,))]
        for theirs, mine in zip(outputs[1:], flat, strict=True):
            np.testing.assert_allclose(theirs, mine.numpy(), **TOLERANCE)
        state, tokens = outputs[1:], logits.argmax(-1)


def test_a_line_models_scorer_reads_a_sequence_as_the_model_does(served_runs, exported):
    from rnnkit.tasks.lines import run as line_run

    loaded = line_run.load(served_runs["lines"])
    folder, description = exported["lines"]
    tokens = torch.randint(0, loaded.model.vocab_size, (6, 30), generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    with torch.no_grad():
        logits, _ = loaded.model(tokens, labels)
    names = description["score"]["inputs"][2:]
    outputs = session(folder, "score.onnx").run(None, {"tokens": tokens.numpy(), "labels": labels.numpy(),
                                                       **{n: np.zeros((6, 32), np.float32) for n in names}})
    np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-4, rtol=1e-5)


def test_a_forecaster_predicts_and_carries_its_state_as_pytorch(served_runs, exported):
    from rnnkit.tasks.forecast import run as forecast_run

    loaded = forecast_run.load(served_runs["forecast"])
    folder, description = exported["forecast"]
    x = torch.randn(4, 25, description["inputs_per_step"], generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        predictions, state = loaded.model(x)
    names = description["graph"]["inputs"][1:]
    outputs = session(folder, "forecast.onnx").run(None, {"inputs": x.numpy(),
                                                          **{n: np.zeros((4, 16), np.float32) for n in names}})
    np.testing.assert_allclose(outputs[0], predictions.numpy(), **TOLERANCE)
    flat = [t for layer in state for t in (layer if isinstance(layer, tuple) else (layer,))]
    for theirs, mine in zip(outputs[1:], flat, strict=True):
        np.testing.assert_allclose(theirs, mine.numpy(), **TOLERANCE)
    assert description["scaling"] == loaded.scaling.to_dict() and description["forecast"]["horizon"] == 2


def tagger_inputs(vocab, sentences: list[list[str]]) -> dict[str, np.ndarray]:
    """What a program without rnnkit feeds ``emissions.onnx``, built from model.json's rules."""
    encoded = [vocab.encode(words) for words in sentences]
    steps, letters = max(len(s) for s in sentences), max(len(w) for s in sentences for w in s)
    inputs = {"words": np.zeros((len(sentences), steps), np.int64), "lengths": np.array([len(s) for s in sentences]),
              "caps": np.zeros((len(sentences), steps), np.int64),
              "chars": np.zeros((len(sentences), steps, letters), np.int64),
              "char_lengths": np.ones((len(sentences), steps), np.int64)}
    for row, sentence in enumerate(encoded):
        inputs["words"][row, :len(sentence.words)] = sentence.words
        inputs["caps"][row, :len(sentence.words)] = sentence.caps
        for position, chars in enumerate(sentence.chars):
            inputs["chars"][row, position, :len(chars)] = chars
            inputs["char_lengths"][row, position] = len(chars)
    return inputs


def best_by_enumeration(emissions: np.ndarray, crf: dict) -> list[int]:
    """The highest-scoring tag sequence, every sequence tried: the oracle for Viterbi."""
    transitions, start, end = (np.array(crf[k]) for k in ("transitions", "start", "end"))
    def score(tags):
        total = start[tags[0]] + end[tags[-1]] + sum(emissions[t, tag] for t, tag in enumerate(tags))
        return total + sum(transitions[a, b] for a, b in itertools.pairwise(tags))
    return list(max(itertools.product(range(len(start)), repeat=len(emissions)), key=score))


def test_a_taggers_emissions_and_crf_scores_give_rnnkits_tags(served_runs, exported):
    from rnnkit.tasks.tag import run as tag_run
    from rnnkit.tasks.tag.vocab import collate

    loaded = tag_run.load(served_runs["tag"])
    folder, description = exported["tag"]
    sentences = [["the", "cat", "sees", "Rome"], ["Paris"], ["a", "dog", "sees", "the", "Paris", "cat"],
                 ["Rome", "unseen", "Cat"]]
    feed = tagger_inputs(loaded.vocab, sentences)
    emissions = session(folder, "emissions.onnx").run(None, {k: feed[k] for k in description["emissions"]["inputs"]})[0]
    batch = collate([loaded.vocab.encode(words) for words in sentences])
    with torch.no_grad():
        expected = loaded.model.emissions(batch)
        decoded = loaded.model.decode(batch, expected)
    mask = batch.mask.numpy()
    np.testing.assert_allclose(emissions[mask], expected.numpy()[mask], **TOLERANCE)
    for row, words in enumerate(sentences):
        assert best_by_enumeration(emissions[row, :len(words)], description["crf"]) == \
            decoded[row, :len(words)].tolist()
    assert description["tags"] == loaded.vocab.tags and description["lowercase"] is True


def test_a_translators_encoder_reads_a_padded_batch_as_pytorch(served_runs, exported):
    from rnnkit.tasks.translate import run as translate_run

    loaded = translate_run.load(served_runs["translate"])
    folder, description = exported["translate"]
    source, lengths = pad([np.array(ids) + 3 for ids in ([1, 2, 3, 4, 5, 6], [7, 8], [9, 1, 2, 3])])
    with torch.no_grad():
        memory, state = loaded.model.encode(source, lengths)
    outputs = dict(zip(description["encoder"]["outputs"], session(folder, "encoder.onnx").run(
        None, {"source": source.numpy(), "lengths": lengths.numpy()}), strict=True))
    real = memory.mask.numpy()
    np.testing.assert_array_equal(outputs["mask"], real)
    np.testing.assert_allclose(outputs["values"][real], memory.values.numpy()[real], **TOLERANCE)
    np.testing.assert_allclose(outputs["keys"][real], memory.keys.numpy()[real], **TOLERANCE)
    np.testing.assert_allclose(outputs["h0"], state[0].numpy(), **TOLERANCE)


@pytest.mark.parametrize("batch", [1, 8])
def test_a_translators_decoder_step_agrees_over_100_carried_steps(served_runs, exported, batch):
    from rnnkit.tasks.translate import run as translate_run
    from rnnkit.tasks.translate.model import BOS

    loaded = translate_run.load(served_runs["translate"])
    folder, description = exported["translate"]
    rng = np.random.default_rng(batch)
    source, lengths = pad([rng.integers(3, 13, size=rng.integers(2, 7)) for _ in range(batch)])
    encoded = session(folder, "encoder.onnx").run(None, {"source": source.numpy(), "lengths": lengths.numpy()})
    memory_names = description["decoder_step"]["inputs"][1:4]
    carried = dict(zip(description["encoder"]["outputs"], encoded, strict=True))
    with torch.no_grad():
        memory, state = loaded.model.encode(source, lengths)
    step, tokens = session(folder, "decoder_step.onnx"), torch.full((batch,), BOS)
    for _ in range(100):
        with torch.no_grad():
            logits, state, weights = loaded.model.step(tokens, state, memory)
        outputs = step.run(None, {"tokens": tokens.numpy(), **carried})
        np.testing.assert_allclose(outputs[0], logits.numpy(), **TOLERANCE)
        np.testing.assert_allclose(outputs[-1], weights.numpy(), **TOLERANCE)
        carried.update(zip(description["encoder"]["outputs"][len(memory_names):], outputs[1:-1], strict=True))
        tokens = logits.argmax(-1)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_cell_exports_with_its_padded_rows_stopping_at_their_lengths(cell, tmp_path):
    """Two bidirectional layers: the reverse direction must start at each row's last real token. The tanh
    RNN goes out as the GRU that computes the same."""
    from rnnkit.export.onnx_graphs import Port, export_graph
    from rnnkit.tasks.classify.export import ClassifyGraph
    from rnnkit.tasks.classify.model import Classifier, ClassifierConfig, predict_logits
    from rnnkit.tasks.sections import ModelConfig

    torch.manual_seed(0)
    model = Classifier(20, 3, ModelConfig(cell=cell, hidden_size=8, num_layers=2, embedding_size=6),
                       ClassifierConfig(pooling="last")).eval()
    export_graph(ClassifyGraph(model), (torch.tensor([[1, 2, 3], [3, 2, 0]]), torch.tensor([3, 2])),
                 [Port("tokens", {0: "batch", 1: "time"}), Port("lengths", {0: "batch"})],
                 [Port("logits", {0: "batch"})], tmp_path / "classify.onnx", lengths={"": "lengths"})
    rng = np.random.default_rng(1)
    sequences = [rng.integers(1, 20, size=n) for n in (9, 1, 4, 30, 2)]
    ids, lengths = pad(sequences)
    logits = session(tmp_path, "classify.onnx").run(None, {"tokens": ids.numpy(), "lengths": lengths.numpy()})[0]
    expected = predict_logits(model, sequences, torch.device("cpu"), batch_size=1).numpy()
    np.testing.assert_allclose(logits, expected, **TOLERANCE)


@pytest.mark.parametrize("attention,feeding", [("none", False), ("fixed", False), ("bahdanau", False),
                                               ("general", True)])
def test_every_kind_of_conditioning_exports_a_decoder_step_that_agrees(served_runs, attention, feeding, tmp_path):
    """A fresh model of each other kind (the served run's is Luong general, whose step ``dot`` shares;
    input feeding recomputes its vector from the carried state): only what it reads goes in."""
    import dataclasses

    from rnnkit.tasks.sections import ModelConfig
    from rnnkit.tasks.translate import export as translate_export
    from rnnkit.tasks.translate import run as translate_run
    from rnnkit.tasks.translate.model import BOS, Seq2Seq, Seq2SeqConfig

    loaded = translate_run.load(served_runs["translate"])
    torch.manual_seed(5)
    model = Seq2Seq(15, 15, ModelConfig(cell="lstm", hidden_size=8, embedding_size=6, num_layers=2),
                    Seq2SeqConfig(attention=attention, reverse_source=True, input_feeding=feeding), True).eval()
    translate_export.export_onnx(dataclasses.replace(loaded, model=model), tmp_path)
    description = json.loads((tmp_path / "model.json").read_text())
    source, lengths = pad([np.array([3, 4, 5, 6, 7]), np.array([8, 9])])
    carried = dict(zip(description["encoder"]["outputs"], session(tmp_path, "encoder.onnx").run(
        None, {"source": source.numpy(), "lengths": lengths.numpy()}), strict=True))
    with torch.no_grad():
        memory, state = model.encode(source, lengths)
    step, tokens = session(tmp_path, "decoder_step.onnx"), torch.full((2,), BOS)
    outputs_named = description["decoder_step"]["outputs"]
    for _ in range(5):
        with torch.no_grad():
            logits, state, weights = model.step(tokens, state, memory)
        outputs = dict(zip(outputs_named, step.run(None, {"tokens": tokens.numpy(), **carried}), strict=True))
        np.testing.assert_allclose(outputs["logits"], logits.numpy(), **TOLERANCE)
        assert ("attention" in outputs) == (weights is not None)
        carried.update({name[:-4]: value for name, value in outputs.items() if name.endswith("_out")})
        tokens = logits.argmax(-1)
