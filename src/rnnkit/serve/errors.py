"""Every refusal is a 4xx whose JSON body is ``{"error": one line naming the field and the fix}``.

FastAPI's own validation answer is a list of dicts; a user (and the playground) wants
the sentence. An unexpected failure is a 500 with one line too, never a traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rnnkit.decode.batcher import Closed, QueueFull
from rnnkit.errors import UserError

log = logging.getLogger("rnnkit.serve")


class Refused(Exception):
    """A request the server will not answer: its status and its one line."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def describe_validation(exc: RequestValidationError) -> str:
    """The first problem as ``field: what is wrong``, the way the command line words its errors."""
    problems = exc.errors()
    if not problems:
        return "the request body is not valid"
    first = problems[0]
    where = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(where) or "body"
    kind, message = first.get("type", ""), first.get("msg", "is not valid")
    if kind == "json_invalid":
        return "body: not valid JSON; send a JSON object"
    if kind == "extra_forbidden":
        return f"{field}: not a field of this request; remove it (see /openapi.json)"
    if kind == "missing":
        return f"{field}: required; add it"
    return f"{field}: {message[0].lower() + message[1:]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                                                            else "")


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, describe_validation(exc))

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(UserError)
    async def user(request: Request, exc: UserError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(QueueFull)
    async def busy(request: Request, exc: QueueFull) -> JSONResponse:
        return error(503, f"busy: {exc}; retry shortly", {"Retry-After": "1"})

    @app.exception_handler(Closed)
    async def closing(request: Request, exc: Closed) -> JSONResponse:
        return error(503, "the server is shutting down; retry on another instance", {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s", request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the server log has the details")
