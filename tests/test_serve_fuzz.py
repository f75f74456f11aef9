"""The server's OpenAPI spec fuzzed with schemathesis against a real uvicorn process: valid and
invalid bodies for every operation, and never a 5xx; every 4xx carries the one-line JSON error."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from serve_helpers import live_server

EXAMPLES = 20  # per operation and mode: bounded in count, and so in time


def test_fuzzed_requests_never_get_a_server_error(served_runs):
    specs = [f"{name}={path}" for name, path in served_runs.items()]
    with live_server(specs, "--max-length", "300", "--max-n", "3") as (_, url):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9  # health, models, one model, and the six verbs
        seen: dict[int, int] = {}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                exercise(operation, mode, url, seen)
    assert any(200 <= status < 300 for status in seen) and any(400 <= status < 500 for status in seen), seen


def exercise(operation, mode, url: str, seen: dict[int, int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        response = case.call(base_url=url, timeout=60)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code >= 400:
            error = response.json()["error"]
            assert isinstance(error, str) and error and "\n" not in error, response.text

    try:
        check()
    except Unsatisfiable:  # a GET without parameters (/health, /v1/models) has no invalid request
        assert mode == GenerationMode.NEGATIVE and operation.method.upper() == "GET" and "{" not in operation.path
