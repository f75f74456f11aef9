"""The one spelling of recurrent weights shared by every backend.

State dicts use ``torch.nn.LSTM``'s flat names (``weight_ih_l0``,
``bias_hh_l1_reverse``), so a checkpoint trained on the unrolled cells loads into
the fused kernels, into a plain ``torch.nn.LSTM``, and back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import nn

PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_CANONICAL = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_(l\d+(?:_reverse)?)$")


def layer_key(layer: int, reverse: bool) -> str:
    """'l0', 'l0_reverse', ... in torch.nn's order (forward before reverse)."""
    return f"l{layer}{'_reverse' if reverse else ''}"


def canonical_to_cell(name: str) -> tuple[str, str] | None:
    """'weight_ih_l1_reverse' -> ('l1_reverse', 'weight_ih'); None if not a recurrent weight."""
    match = _CANONICAL.match(name)
    return (match.group(2), match.group(1)) if match else None


def use_canonical_names(module: nn.Module, to_canonical: Callable[[str], str | None],
                        from_canonical: Callable[[str], str | None]) -> None:
    """Make ``module``'s state dict use canonical names, in both directions.

    ``to_canonical`` maps an internal key (relative to the module) to its canonical
    name or None to leave it; ``from_canonical`` is its inverse.
    """

    def save_hook(mod, state_dict, prefix, local_metadata):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new = to_canonical(key[len(prefix):])
            if new is not None:
                state_dict[prefix + new] = state_dict.pop(key)

    def load_hook(mod, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new = from_canonical(key[len(prefix):])
            if new is not None:
                state_dict[prefix + new] = state_dict.pop(key)

    module.register_state_dict_post_hook(save_hook)
    module.register_load_state_dict_pre_hook(load_hook)
