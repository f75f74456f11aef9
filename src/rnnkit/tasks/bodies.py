"""The HTTP bodies of the verbs `rnnkit serve` answers: one pydantic model per verb, shared by the tasks.

Their bounds are in the OpenAPI spec, so a client (or schemathesis) knows them; the
server's own limits (``--max-length``, ``--max-n``) are checked on top, per request.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Text = Annotated[str, Field(min_length=1, max_length=100_000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not a silent default


class GenerateBody(Body):
    """Text from a language model, or lines from a line model (with ``label`` where it is conditioned)."""

    prime: str = Field("", max_length=100_000, description="text to continue; empty: the run's own start")
    length: int = Field(200, ge=1, description="tokens to generate (a line model: at most, per line)")
    temperature: float = Field(1.0, ge=0, allow_inf_nan=False, description="0 is greedy")
    top_k: int = Field(0, ge=0, description="keep the k likeliest tokens; 0 keeps all")
    top_p: float = Field(1.0, gt=0, le=1, allow_inf_nan=False, description="nucleus mass; 1 keeps all")
    seed: int = Field(0, ge=0, lt=2**63, description="sample i of n uses seed + i, as rnnkit sample --num")
    n: int = Field(1, ge=1, description="how many samples")
    stream: bool = Field(False, description="send pieces as Server-Sent Events as they are produced")
    label: str | None = Field(None, max_length=1000, description="a conditioned line model's label")


class ScoreBody(Body):
    text: Text


class NeuronsBody(Body):
    text: Text
    neurons: list[Annotated[str, Field(pattern=r"^[hc]\d+:\d+$")]] = Field(
        default_factory=list, max_length=64, description='units such as "h0:12"; empty: none, only the predictions')


class TranslateBody(Body):
    sentences: list[Text] = Field(min_length=1, max_length=64)
    beam: int = Field(1, ge=1, le=32)
    n_best: int = Field(1, ge=1, le=32)
    alpha: float | None = Field(None, ge=0, le=5, allow_inf_nan=False,
                                description="length penalty; unset: the run's tuned one for a beam, else 0")
    max_length: int = Field(0, ge=0, le=1000, description="0: the run's own limit")
    attention: bool = Field(False, description="return each best translation's attention weights")


class ClassifyBody(Body):
    texts: list[Text] = Field(min_length=1, max_length=256)
    top_k: int = Field(3, ge=1, le=1000)


class ForecastBody(Body):
    horizon: int = Field(1, ge=1, le=1000, description="steps beyond the end of the series")
    values: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        None, max_length=100_000, description="a recent history of a one-column series; none: the run's own")


class TagBody(Body):
    sentences: list[Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"\S")]] = Field(
        min_length=1, max_length=256, description="sentences, each split into words at whitespace")


class ErrorBody(BaseModel):
    error: str


BODIES: dict[str, type[Body]] = {"generate": GenerateBody, "score": ScoreBody, "neurons": NeuronsBody,
                                 "translate": TranslateBody, "classify": ClassifyBody, "forecast": ForecastBody,
                                 "tag": TagBody}
