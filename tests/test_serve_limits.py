"""The server under load and at its edges: 32 streams batched yet each its own, a full batch answered
503, a client that leaves, refusals as one-line JSON, tokens, a public bind, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import pytest
from serve_helpers import live_server, rnnkit, sse_events

LONG = 1500  # tokens: long enough that a stream is still running while the test looks at it


async def stream_text(client: httpx.AsyncClient, url: str, seed: int, length: int = 120) -> str:
    """One streamed generation's text."""
    text = ""
    body = {"prime": "The ", "length": length, "seed": seed, "temperature": 0.9, "stream": True}
    async with client.stream("POST", f"{url}/v1/models/lm/generate", json=body) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"seed"' not in line:
                text += json.loads(line[6:])["text"]
    return text


def test_32_concurrent_streams_each_get_the_text_they_get_alone(live):
    async def together() -> list[str]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(stream_text(client, live, seed) for seed in range(32)))

    async def alone() -> list[str]:
        async with httpx.AsyncClient(timeout=120) as client:
            return [await stream_text(client, live, seed) for seed in range(32)]

    batched, serial = asyncio.run(together()), asyncio.run(alone())
    assert batched == serial
    assert len(set(serial)) == 32  # distinct seeds, distinct texts: the comparison is not vacuous


def test_a_full_batch_answers_503_and_a_client_that_leaves_frees_its_row(live):
    async def scenario() -> tuple[int, str, list[str], list[str], dict]:
        async with httpx.AsyncClient(timeout=120) as client:
            running = [asyncio.create_task(stream_text(client, live, seed, LONG)) for seed in range(31)]
            leaver = asyncio.create_task(stream_text(client, live, 99, LONG))
            while httpx.get(f"{live}/health").json()["streams"].get("lm", {}).get("running", 0) < 32:
                await asyncio.sleep(0.05)
            refused = await client.post(f"{live}/v1/models/lm/generate", json={"length": 5})
            leaver.cancel()  # hang up mid-stream
            for _ in range(100):
                if httpx.get(f"{live}/health").json()["streams"]["lm"]["running"] < 32:
                    break
                await asyncio.sleep(0.05)
            freed = httpx.get(f"{live}/health").json()["streams"]["lm"]
            texts = await asyncio.gather(*running)
            alone = [await stream_text(client, live, seed, LONG) for seed in (0, 30)]
            return refused.status_code, refused.headers.get("retry-after"), texts, alone, freed | {
                "error": refused.json()["error"]}

    status, retry_after, texts, alone, freed = asyncio.run(scenario())
    assert status == 503 and retry_after == "1" and "busy" in freed["error"]
    assert freed["running"] < 32  # the client that hung up no longer holds a row
    assert [texts[0], texts[30]] == alone  # and the others never noticed


BAD = [
    ("/v1/models/nope/generate", {}, 404, "nope"),
    ("/v1/models/lm/translate", {"sentences": ["a"]}, 400, "answers only"),
    ("/v1/models/lm/generate", {"prime": "\u4e2d"}, 400, "prime"),
    ("/v1/models/lm/generate", {"length": 4001}, 422, "length"),
    ("/v1/models/lm/generate", {"n": 17}, 422, "n:"),
    ("/v1/models/lm/generate", {"temperature": -1}, 422, "temperature"),
    ("/v1/models/lm/generate", {"top_p": 0}, 422, "top_p"),
    ("/v1/models/lm/generate", {"label": "x"}, 400, "label"),
    ("/v1/models/lm/generate", {"prime": "a" * 4001}, 400, "prime"),
    ("/v1/models/lm/generate", {"lenght": 5}, 422, "lenght"),
    ("/v1/models/lm/score", {"text": ""}, 422, "text"),
    ("/v1/models/lm/score", {"text": "a"}, 400, "text"),
    ("/v1/models/classify/classify", {"texts": []}, 422, "texts"),
    ("/v1/models/translate/translate", {"sentences": ["1 2"], "beam": 2, "n_best": 3}, 400, "n_best"),
    ("/v1/models/forecast/forecast", {"horizon": 0}, 422, "horizon"),
    ("/v1/models/forecast/forecast", {"values": [1.0, 2.0]}, 400, "lookback"),
]


@pytest.mark.parametrize(("path", "body", "status", "named"), BAD)
def test_bad_requests_get_a_one_line_json_error_naming_the_field(live, path, body, status, named):
    answer = httpx.post(f"{live}{path}", json=body, timeout=60)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert named in error and "\n" not in error and "Traceback" not in error


def test_malformed_bodies_nan_and_oversized_requests_are_4xx(live):
    url = f"{live}/v1/models/lm/generate"
    nan = httpx.post(url, content=b'{"temperature": NaN}', headers={"content-type": "application/json"})
    broken = httpx.post(url, content=b'{"length": 5', headers={"content-type": "application/json"})
    huge = httpx.post(f"{live}/v1/models/lm/score", content=json.dumps({"text": "a" * 1_100_000}),
                      headers={"content-type": "application/json"})
    chunked = httpx.post(f"{live}/v1/models/lm/score", content=iter([b'{"text": "', b"a" * 1_100_000, b'"}']),
                         headers={"content-type": "application/json"})
    assert (nan.status_code, broken.status_code, huge.status_code, chunked.status_code) == (422, 422, 413, 413)
    assert all("error" in r.json() for r in (nan, broken, huge, chunked))


def test_a_token_guards_every_path_but_health(served_runs):
    with live_server([str(served_runs["lm"])], "--token", "s3cret") as (_, url):
        models = f"{url}/v1/models"
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(models).status_code == 401
        wrong = httpx.get(models, headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and "Bearer" in wrong.json()["error"]
        assert httpx.get(models, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(f"{url}/").status_code == 401 and httpx.get(f"{url}/?token=s3cret").status_code == 200
        assert httpx.get(f"{url}/openapi.json").status_code == 401


def test_a_public_address_without_a_token_is_refused_in_one_line(served_runs):
    refused = rnnkit("serve", str(served_runs["lm"]), "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2 and "--token" in refused.stderr and len(refused.stderr.splitlines()) == 1
    missing = rnnkit("serve", "no/such/run")
    assert missing.returncode == 2 and "no/such/run" in missing.stderr


def test_sigterm_lets_a_stream_in_flight_finish_then_exits_0(served_runs):
    with live_server([str(served_runs["lm"])]) as (server, url):
        name = served_runs["lm"].name
        with httpx.stream("POST", f"{url}/v1/models/{name}/generate", timeout=60,
                          json={"length": LONG, "seed": 1, "stream": True}) as response:
            events = sse_events(response.iter_lines())
            next(events)
            server.send_signal(signal.SIGTERM)
            rest = list(events)
        assert rest[-1][0] == "done" and len(rest[-1][1]["samples"][0]["text"]) >= LONG * 0.9
        assert server.wait(30) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health")
