"""`rnnkit serve`: every endpoint against the command line's own output, and the server's promises
(batching that never mixes rows, refusals as JSON 4xx, tokens, disconnects, SIGTERM)."""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pytest
from serve_helpers import rnnkit, sse_events


def cli_samples(stdout: str) -> list[str]:
    """The texts `rnnkit sample --num N` prints between its `--- sample k ---` lines."""
    texts, current = [], None
    for line in stdout.splitlines(keepends=True):
        if line.startswith("--- sample "):
            if current is not None:
                texts.append(current[:-1])
            current = ""
        else:
            current = (current or "") + line
    return [*texts, current[:-1]]


def post(url: str, path: str, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=120, **kwargs)


def test_generate_equals_rnnkit_sample_for_the_same_seed_streamed_or_not(live, served_runs):
    body = {"prime": "ROMEO:", "length": 400, "seed": 5, "n": 2, "temperature": 0.8, "top_k": 12, "top_p": 0.9}
    answer = post(live, "/v1/models/lm/generate", body).json()
    cli = rnnkit("sample", str(served_runs["lm"]), "--prime", "ROMEO:", "--length", "400", "--seed", "5", "--num",
                 "2", "--temperature", "0.8", "--top-k", "12", "--top-p", "0.9")
    assert cli.returncode == 0, cli.stderr
    assert [answer["prime"] + s["text"] for s in answer["samples"]] == cli_samples(cli.stdout)
    with httpx.stream("POST", f"{live}/v1/models/lm/generate", json={**body, "stream": True}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(r.iter_lines()))
    streamed = ["", ""]
    for name, data in events[:-1]:
        assert name == "message"
        streamed[data["sample"]] += data["text"]
    assert events[-1][0] == "done" and len(events) > 3  # pieces arrived over time (every 10 ms), then the summary
    assert streamed == [s["text"] for s in answer["samples"]] == [s["text"] for s in events[-1][1]["samples"]]


def test_score_equals_rnnkit_eval_and_its_surprisals_add_up(live, served_runs, shakespeare_slice, tmp_path):
    text = shakespeare_slice.read_text()[:3000]
    (tmp_path / "held.txt").write_text(text)
    answer = post(live, "/v1/models/lm/score", {"text": text}).json()
    cli = rnnkit("eval", str(served_runs["lm"]), str(tmp_path / "held.txt"), "--streams", "1", "--json")
    expected = json.loads(cli.stdout)
    assert answer["scores"]["bits_per_char"] == pytest.approx(expected["bits_per_char"], rel=1e-5)
    assert answer["scores"]["tokens"] == expected["tokens"]
    bits = answer["surprisal_bits"]
    assert bits[0] is None and len(bits) == len(answer["tokens"]) == len(text)
    assert sum(bits[1:]) / expected["characters"] == pytest.approx(expected["bits_per_char"], rel=1e-4)


def test_neurons_are_the_states_and_predictions_viz_reads(live, served_runs):
    from rnnkit.tasks.lm import reading
    from rnnkit.tasks.lm import run as lm_run

    text = "First Citizen:\nBefore we proceed any further, hear me speak."
    answer = post(live, "/v1/models/lm/neurons", {"text": text, "neurons": ["h1:3", "c0:7"]}).json()
    loaded = lm_run.load(served_runs["lm"])
    ids, pieces = loaded.tokenizer.encode(text), loaded.tokenizer.pieces(text)
    read = reading.read_model(loaded, ids, pieces, 3, False)
    assert answer["tokens"] == pieces
    np.testing.assert_allclose(answer["activations"]["h1:3"], read.states["h1"][:, 3], atol=1e-5)
    np.testing.assert_allclose(answer["activations"]["c0:7"], read.states["c0"][:, 7], atol=1e-5)
    vocab = [loaded.tokenizer.decode([i]) for i in range(loaded.tokenizer.vocab_size)]
    assert [[t["token"] for t in row] for row in answer["top"]] == [[vocab[i] for i in row] for row in read.top_ids]
    unknown = post(live, "/v1/models/lm/neurons", {"text": text, "neurons": ["h5:0"]})
    assert unknown.status_code == 400 and "h5:0" in unknown.json()["error"]


def test_translate_equals_rnnkit_predict_with_attention_rows_summing_to_one(live, served_runs):
    sentences = ["1 2 3 4", "7 7 0 5 9"]
    answer = post(live, "/v1/models/translate/translate",
                  {"sentences": sentences, "beam": 3, "n_best": 2, "attention": True}).json()
    cli = rnnkit("predict", str(served_runs["translate"]), *sentences, "--beam", "3", "--n-best", "2", "--json")
    expected = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [{k: r[k] for k in ("source", "translations")} for r in answer["results"]] == expected
    attention = answer["results"][0]["attention"]
    assert [t.strip() for t in attention["source"]] == ["1", "2", "3", "4"]
    assert len(attention["weights"]) == len(attention["target"])
    assert all(math.isclose(sum(row), 1.0, abs_tol=2e-3) for row in attention["weights"])


def test_classify_equals_rnnkit_predict(live, served_runs):
    texts = ["Kakitomi", "Ivanovsky", "Koko"]
    answer = post(live, "/v1/models/classify/classify", {"texts": texts, "top_k": 2}).json()
    cli = rnnkit("predict", str(served_runs["classify"]), *texts, "--top-k", "2", "--json")
    assert answer["results"] == [json.loads(line) for line in cli.stdout.splitlines()]


def test_tag_equals_rnnkit_predict(live, served_runs):
    sentences = ["the cat sees Paris", "Rome  a dog"]
    answer = post(live, "/v1/models/tag/tag", {"sentences": sentences}).json()
    cli = rnnkit("predict", str(served_runs["tag"]), *sentences, "--json")
    assert answer["results"] == [json.loads(line) for line in cli.stdout.splitlines()]
    assert answer["results"][1]["words"] == ["Rome", "a", "dog"]
    refused = post(live, "/v1/models/tag/tag", {"sentences": ["   "]})
    assert refused.status_code == 422 and "sentences" in refused.json()["error"]


def test_forecast_equals_rnnkit_predict(live, served_runs):
    answer = post(live, "/v1/models/forecast/forecast", {"horizon": 5}).json()
    cli = rnnkit("predict", str(served_runs["forecast"]), "--steps", "5")
    rows = [line.split(",") for line in cli.stdout.splitlines()[1:]]
    assert answer["times"] == [t for t, _ in rows]
    assert [f"{v:.4f}" for v in answer["values"]] == [v for _, v in rows]
    own = post(live, "/v1/models/forecast/forecast", {"horizon": 2, "values": answer["history"]["values"]}).json()
    assert own["values"] == answer["values"][:2]  # the run's own recent history gives the run's own forecast


def test_line_model_generates_for_a_label_as_rnnkit_sample_does(live, served_runs):
    answer = post(live, "/v1/models/lines/generate", {"label": "Soft", "n": 6, "seed": 3, "length": 20}).json()
    cli = rnnkit("sample", str(served_runs["lines"]), "--label", "Soft", "--num", "6", "--seed", "3", "--length",
                 "20", "--json")
    assert [s["text"] for s in answer["samples"]] == json.loads(cli.stdout)["samples"]
    wrong = post(live, "/v1/models/lines/generate", {"label": "Loud"})
    assert wrong.status_code == 400 and "Soft" in wrong.json()["error"]


def test_ngram_generates_and_scores_as_its_commands_do(live, served_runs, shakespeare_slice, tmp_path):
    answer = post(live, "/v1/models/ngram/generate", {"prime": "KING", "length": 60, "seed": 2}).json()
    cli = rnnkit("sample", str(served_runs["ngram"]), "--prime", "KING", "--length", "60", "--seed", "2")
    assert answer["prime"] + answer["samples"][0]["text"] == cli.stdout[:-1]
    text = shakespeare_slice.read_text()[-2000:]
    (tmp_path / "tail.txt").write_text(text)
    scored = post(live, "/v1/models/ngram/score", {"text": text}).json()["scores"]
    expected = json.loads(rnnkit("eval", str(served_runs["ngram"]), str(tmp_path / "tail.txt"), "--json").stdout)
    assert scored["bits_per_char"] == pytest.approx(expected["bits_per_char"], rel=1e-9)


def test_models_lists_each_run_with_its_task_size_and_validation(live):
    models = {m["name"]: m for m in httpx.get(f"{live}/v1/models").json()["models"]}
    assert {name: m["task"] for name, m in models.items()} == {
        "lm": "lm", "translate": "translate", "classify": "classify", "forecast": "forecast", "lines": "lines",
        "ngram": "ngram", "tag": "tag"}
    lm = models["lm"]
    assert lm["verbs"] == ["generate", "neurons", "score"] and lm["parameters"] > 1000 and lm["vocab_size"] > 40
    assert lm["validation"]["bits_per_char"] > 0 and lm["training_seconds"] > 0
    assert models["classify"]["labels"] == ["East", "West"] and models["ngram"]["validation"] is None
    assert models["tag"]["labels"] == ["O", "B-LOC"] and models["tag"]["verbs"] == ["tag"]
