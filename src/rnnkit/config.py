"""Dataclass <-> argparse and JSON: one definition of each option, nothing else.

A config field carries its help text (and choices) in its metadata, so the CLI
flag, its ``--help`` line and the saved ``config.json`` all come from one place.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, choices: tuple | None = None) -> Any:
    """A dataclass field with a CLI help text."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, defaults_to_none: bool = False,
                  only: tuple[str, ...] = ()) -> None:
    """One flag per field (or per field in ``only``), its help ending in the dataclass's default.
    With ``defaults_to_none`` unset flags read as None, so ``overrides`` sees what the user gave."""
    group = parser.add_argument_group(cls.__name__.replace("Config", "").lower() or cls.__name__)
    for field in dataclasses.fields(cls):
        if only and field.name not in only:
            continue
        meta = field.metadata
        text = f"{meta.get('help', '')} (default: {field.default})"
        kwargs: dict[str, Any] = {"default": None if defaults_to_none else field.default, "help": text,
                                  "dest": field.name}
        if isinstance(field.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = type(field.default)
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            kwargs["metavar"] = field.name.split("_")[-1].upper() if not meta.get("choices") else None
        group.add_argument(flag_name(field.name), **kwargs)


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def overrides(cls: type, args: argparse.Namespace) -> dict:
    """The fields of ``cls`` the user set on the command line (when parsed with defaults_to_none)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict) -> T:
    """Build ``cls`` from saved JSON, ignoring keys a newer version may have added."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
