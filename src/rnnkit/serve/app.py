"""The HTTP API: routes generic over the task table, one per verb a row ``serves``.

``POST /v1/models/{name}/{verb}`` looks the model up, asks its task's row for the verb
and runs it: a verb that works the model directly runs in a worker thread under the
model's lock; ``generate`` on a language model goes through its batcher.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rnnkit.serve import errors
from rnnkit.serve.events import collect, sse
from rnnkit.serve.guard import Guard
from rnnkit.serve.registry import ServedModel
from rnnkit.tasks import TASKS
from rnnkit.tasks.bodies import BODIES, ErrorBody, GenerateBody

REFUSALS = {status: {"model": ErrorBody} for status in (400, 401, 404, 413, 422, 503)}


def create_app(models: dict[str, ServedModel], token: str | None = None) -> FastAPI:
    """The ASGI app over already loaded ``models``; ``token`` set requires it on every path but /health."""
    app = FastAPI(title="rnnkit", version=_version(), description="Recurrent models trained with rnnkit.",
                  responses=REFUSALS)
    app.state.models = models
    errors.install(app)
    _add_info_routes(app, models)
    for verb in sorted({verb for task in TASKS.values() for verb in task.serves}):
        _add_verb(app, models, verb)
    app.add_middleware(Guard, token=token)
    app.openapi = lambda: with_server_facts(app, models)
    return app


def with_server_facts(app: FastAPI, models: dict[str, ServedModel]) -> dict:
    """The spec as FastAPI writes it, plus what only this server knows: which model names answer
    each verb (an enum on ``{name}``) and its limits on ``length`` and ``n``."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, operations in spec["paths"].items():
            verb = path.rsplit("/", 1)[-1]
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "name":
                        names = [n for n, s in models.items() if verb in s.task.serves] if "{name}/" in path else \
                            list(models)
                        parameter["schema"]["enum"] = names or ["none"]
        limits = next(iter(models.values())).limits if models else None
        body = spec.get("components", {}).get("schemas", {}).get("GenerateBody", {}).get("properties", {})
        if limits and body:
            body["length"]["maximum"], body["n"]["maximum"] = limits.max_length, limits.max_n
        app.openapi_schema = spec
    return app.openapi_schema


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnkit")
    except PackageNotFoundError:
        return "0"


def _add_info_routes(app: FastAPI, models: dict[str, ServedModel]) -> None:
    @app.get("/health", summary="whether the server is up (no token needed)")
    def health() -> dict[str, Any]:
        streams = {name: served.generation_load() for name, served in models.items()}
        return {"status": "ok", "models": len(models), "streams": {k: v for k, v in streams.items() if v}}

    @app.get("/v1/models", summary="the models this server was started with")
    def list_models() -> dict[str, Any]:
        return {"models": [served.info() for served in models.values()]}

    @app.get("/v1/models/{name}", summary="one model's description")
    def one_model(name: str) -> dict[str, Any]:
        return model_named(models, name).info()

    here = files("rnnkit.serve")
    page = here.joinpath("playground.html").read_text(encoding="utf-8").replace(
        "/*PLAYGROUND_JS*/", here.joinpath("playground.js").read_text(encoding="utf-8"))  # one file, no fetches

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def playground() -> str:
        return page


def model_named(models: dict[str, ServedModel], name: str) -> ServedModel:
    if name not in models:
        raise errors.Refused(404, f"model: no model named {name!r}; GET /v1/models lists them "
                                  f"({', '.join(models) or 'none'})")
    return models[name]


def handler_for(served: ServedModel, verb: str):
    if verb not in served.task.serves:
        offered = ", ".join(sorted(served.task.serves))
        raise errors.Refused(400, f"{verb}: model {served.name} (task {served.task.name}) answers only {offered}")
    return served.task.serves[verb]


def _add_verb(app: FastAPI, models: dict[str, ServedModel], verb: str) -> None:
    body_type = BODIES[verb]
    if verb == "generate":
        @app.post("/v1/models/{name}/generate", summary="text or lines; stream: true sends Server-Sent Events")
        async def generate(name: str, body: GenerateBody) -> Any:
            served = model_named(models, name)
            check_generate_limits(served, body)
            pieces = await started(generation(served, handler_for(served, "generate"), body))
            if body.stream:
                return StreamingResponse(sse(pieces, body), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            return {"model": name, **await collect(pieces, body)}
        return

    async def answer(name: str, body) -> dict[str, Any]:
        served = model_named(models, name)
        handler = handler_for(served, verb)
        return {"model": name, **await run_in_threadpool(locked, served, handler, body)}

    answer.__annotations__["body"] = body_type  # the verb's schema, for validation and /openapi.json
    answer.__name__ = verb
    app.post(f"/v1/models/{{name}}/{verb}", summary=f"{verb} (see the body's schema)")(answer)


def locked(served: ServedModel, handler, body) -> Any:
    with served.lock:
        try:
            return handler(served, body)
        except errors.UserError as err:
            raise errors.UserError(as_http_message(str(err), served)) from None


def as_http_message(message: str, served: ServedModel) -> str:
    """A command's error in a request's words: the model's name for its folder, the body's field
    for a flag (``--prime`` is ``prime``)."""
    message = message.replace(str(served.loaded.run), served.name)
    return re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), message)


def check_generate_limits(served: ServedModel, body: GenerateBody) -> None:
    limits = served.limits
    if body.length > limits.max_length:
        raise errors.Refused(422, f"length: at most {limits.max_length:,} tokens on this server; ask for fewer")
    if body.n > limits.max_n:
        raise errors.Refused(422, f"n: at most {limits.max_n} samples per request on this server; ask for fewer")


async def generation(served: ServedModel, handler, body: GenerateBody) -> AsyncIterator[tuple[int, str]]:
    if inspect.isasyncgenfunction(handler):
        async for item in handler(served, body):
            yield item
        return
    for item in await run_in_threadpool(locked, served, handler, body):
        yield item


async def started(pieces: AsyncIterator[tuple[int, str]]) -> AsyncIterator[tuple[int, str]]:
    """Run the generation up to its first piece before answering, so that a refusal (a bad prime,
    a full queue) is still an HTTP status rather than an event in a stream already begun."""
    try:
        first = await anext(pieces)
    except StopAsyncIteration:
        first = None

    async def chained() -> AsyncIterator[tuple[int, str]]:
        try:
            if first is not None:
                yield first
            async for item in pieces:
                yield item
        finally:
            await pieces.aclose()

    return chained()
