"""Photos as the encoder reads them: RGB, squashed to its square input, refused in one line when broken.

Pillow decodes lazily, so a truncated JPEG opens fine and fails only when its
pixels are read; ``load_image`` reads them at once, so the error names the file
before any work is done on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.errors import UserError

MIN_SIDE = 32  # smaller photos carry too little for a 7x7 feature map


def load_image(path: Path, size: int = 224) -> np.ndarray:
    """(size, size, 3) uint8: the whole photo resized to the square (its aspect ratio squashed, as
    Flickr8k's copies were), not cropped, so nothing a caption mentions is cut off."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise UserError(f"{path}: no such image file; check the path")
    try:
        with Image.open(path) as image:
            image.load()
            if min(image.size) < MIN_SIDE:
                raise UserError(f"{path}: {image.size[0]}x{image.size[1]} pixels is too small; give photos of "
                                f"at least {MIN_SIDE}x{MIN_SIDE}")
            rgb = image.convert("RGB")
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image Pillow can read; give a JPEG or PNG photo") from None
    except Image.DecompressionBombError:
        raise UserError(f"{path}: too many pixels to decode safely; resize the photo") from None
    except OSError as err:  # truncated or corrupt data
        raise UserError(f"{path}: a damaged image ({str(err).splitlines()[0][:80]}); replace the file") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8)
