"""Training state as safetensors plus JSON: no pickle anywhere in a run.

The loop's state (optimizer moments, RNG states, the task's carried hidden state) is a
tree of dicts, lists, tuples, numbers and tensors. ``split`` takes the tensors out into
a flat ``{name: tensor}`` map for safetensors and leaves a JSON skeleton that names
them; ``join`` puts the tree back together exactly (int keys, tuples and dtypes kept).
"""

from __future__ import annotations

import math
from typing import Any

import torch

TENSOR, TUPLE, INT_KEYS, FLOAT = "__tensor__", "__tuple__", "__int_keys__", "__float__"


def split(tree: Any, tensors: dict[str, torch.Tensor] | None = None, path: str = "state") -> tuple[Any, dict]:
    """``(skeleton, tensors)``: the JSON-able skeleton of ``tree`` and the tensors it names."""
    tensors = {} if tensors is None else tensors
    if isinstance(tree, torch.Tensor):
        tensors[path] = tree.detach().cpu().contiguous().clone()
        return {TENSOR: path}, tensors
    if isinstance(tree, dict):
        if all(isinstance(key, int) for key in tree) and tree:
            items = {str(key): split(value, tensors, f"{path}.{key}")[0] for key, value in tree.items()}
            return {INT_KEYS: items}, tensors
        if not all(isinstance(key, str) for key in tree):
            raise TypeError(f"{path}: keys must be all strings or all ints")
        return {key: split(value, tensors, f"{path}.{key}")[0] for key, value in tree.items()}, tensors
    if isinstance(tree, tuple | list):
        items = [split(value, tensors, f"{path}.{i}")[0] for i, value in enumerate(tree)]
        return ({TUPLE: items} if isinstance(tree, tuple) else items), tensors
    if isinstance(tree, float) and not math.isfinite(tree):
        return {FLOAT: repr(tree)}, tensors  # inf (no best score yet) and nan are not JSON
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree, tensors
    raise TypeError(f"{path}: cannot store a {type(tree).__name__} in a checkpoint")


def join(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The tree ``split`` took apart; a name missing from ``tensors`` is a KeyError."""
    if isinstance(skeleton, dict):
        if TENSOR in skeleton:
            return tensors[skeleton[TENSOR]]
        if TUPLE in skeleton:
            return tuple(join(value, tensors) for value in skeleton[TUPLE])
        if INT_KEYS in skeleton:
            return {int(key): join(value, tensors) for key, value in skeleton[INT_KEYS].items()}
        if FLOAT in skeleton:
            return float(skeleton[FLOAT])
        return {key: join(value, tensors) for key, value in skeleton.items()}
    if isinstance(skeleton, list):
        return [join(value, tensors) for value in skeleton]
    return skeleton
