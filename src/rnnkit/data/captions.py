"""Captioned images: a folder of photos and a captions file, split by image.

Three captions formats are read: Flickr8k's ``image#k<TAB>caption``, a COCO-style
JSON (``images`` with ``file_name``, ``annotations`` with ``image_id`` and
``caption``; Karpathy's ``images[].filename/sentences/split`` too), and a TSV of
``image<TAB>caption``. Split files (Flickr8k's ``*trainImages.txt``, or
``train.txt``/``val.txt``/``test.txt`` listing image names) keep their split;
otherwise images, never single captions, are split by a seeded shuffle, so no
test photo was seen in training under another caption.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from rnnkit.config import option
from rnnkit.data.corpora import read_text_file
from rnnkit.data.labelled import split_fractions
from rnnkit.errors import UserError

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
CAPTION_SUFFIXES = (".token.txt", ".json", ".tsv")
SPLIT_NAMES = {"train": ("trainimages", "train"), "val": ("devimages", "valimages", "dev", "val", "valid"),
               "test": ("testimages", "test")}


@dataclasses.dataclass
class CaptionsConfig:
    """Where the photos and their captions are, and how they are split."""

    captions: str = option("", "caption: the captions file (Flickr8k token format, COCO JSON or TSV "
                           "image<TAB>caption); default: the one in the data folder")
    images: str = option("", "caption: the folder of images (default: images/ beside the captions, else "
                         "their own folder)")
    split: str = option("0.8,0.1,0.1", "caption: train, validation and test fractions of the images, when "
                        "the data has no split files")


@dataclasses.dataclass
class CaptionedImages:
    """Each split's image names, every image's captions (normalised), and where the files are."""

    folder: Path
    splits: dict[str, list[str]]
    captions: dict[str, list[str]]
    origin: str  # how the split was made, for the run's header


def normalise_caption(text: str) -> str:
    """Lower case, words and numbers only: what the model writes and what the scores compare."""
    return " ".join(WORD.findall(text.lower()))


def parse_captions(path: Path, text: str) -> dict[str, list[str]]:
    """Image name -> its captions, in file order, from any of the three formats (``text`` is ``path``'s)."""
    pairs = _json_pairs(path, text) if path.suffix.lower() == ".json" else _tab_pairs(path, text)
    captions: dict[str, list[str]] = {}
    for image, caption in pairs:
        cleaned = normalise_caption(caption)
        if cleaned:
            captions.setdefault(image, []).append(cleaned)
    if not captions:
        raise UserError(f"{path}: no captions with words in them; give image<TAB>caption lines")
    return captions


def _tab_pairs(path: Path, text: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise UserError(f"{path}: line {number} has no tab; each line is image<TAB>caption "
                            "(Flickr8k: image.jpg#0<TAB>caption)")
        image, caption = line.split("\t", 1)
        pairs.append((re.sub(r"#\d+$", "", image.strip()), caption))
    return pairs


def _json_pairs(path: Path, text: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text)
        if "annotations" in data:  # COCO
            names = {image["id"]: image["file_name"] for image in data["images"]}
            return [(names[a["image_id"]], a["caption"]) for a in data["annotations"]]
        return [(image["filename"], s["raw"]) for image in data["images"] for s in image["sentences"]]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: not a COCO captions JSON (images with id and file_name, annotations with "
                        "image_id and caption) nor Karpathy's (images with filename and sentences)") from None


def json_splits(path: Path, text: str) -> dict[str, list[str]] | None:
    """Karpathy's JSON names each image's split (``restval`` counts as training)."""
    if path.suffix.lower() != ".json":
        return None
    data = json.loads(text)
    if "annotations" in data or not all("split" in image for image in data.get("images", [])):
        return None
    kinds = {"train": "train", "restval": "train", "val": "val", "test": "test"}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for image in data["images"]:
        if image["split"] in kinds:
            splits[kinds[image["split"]]].append(image["filename"])
    return splits


def find_captions(folder: Path) -> Path:
    """The one captions file in a data folder."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(CAPTION_SUFFIXES))
    if len(found) != 1:
        what = "none" if not found else ", ".join(p.name for p in found)
        raise UserError(f"{folder}: expected one captions file (*.token.txt, *.json or *.tsv), found {what}; "
                        "name it with --captions FILE")
    return found[0]


def split_files(folder: Path) -> dict[str, Path]:
    """Split lists beside the captions: Flickr8k's ``Flickr_8k.trainImages.txt``, or ``train.txt``."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.txt")):
        stem = path.name.lower().removesuffix(".txt").split(".")[-1].replace("_", "")
        for split, names in SPLIT_NAMES.items():
            if stem in names:
                found[split] = path
    return found if {"train", "val"} <= set(found) else {}


def load_captioned_images(data: Path, config: CaptionsConfig, seed: int, encoding: str = "utf-8",
                          split: bool = True) -> CaptionedImages:
    """The images and captions of a data folder or captions file, split, every listed image present.
    Data without split files is split by ``config.split``, or with ``split`` False is all test."""
    if not data.exists():
        raise UserError(f"{data}: no such file or folder; give a folder of images with a captions file")
    captions_path = Path(config.captions) if config.captions else (find_captions(data) if data.is_dir() else data)
    home = data if data.is_dir() else captions_path.parent
    folder = Path(config.images) if config.images else (home / "images" if (home / "images").is_dir() else home)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of images; pass --images DIR")
    text = read_text_file(captions_path, encoding)
    captions = parse_captions(captions_path, text)
    splits, origin = _given_splits(home, captions_path, text, captions)
    if splits is None and not split:
        splits, origin = {"train": [], "val": [], "test": sorted(captions)}, "every image"
    elif splits is None:
        splits, origin = image_split(sorted(captions), split_fractions(config.split), seed), f"split {config.split}"
    for names in splits.values():
        for name in names:
            if not (folder / name).is_file():
                raise UserError(f"{captions_path}: its image {name} is not in {folder}; add the file, or drop "
                                "its captions")
    return CaptionedImages(folder, splits, {n: captions[n] for names in splits.values() for n in names}, origin)


def _given_splits(home: Path, captions_path: Path, text: str, captions: dict[str, list[str]],
                  ) -> tuple[dict[str, list[str]] | None, str]:
    in_json = json_splits(captions_path, text)
    if in_json is not None:
        return {k: [n for n in v if n in captions] for k, v in in_json.items()}, f"{captions_path.name}'s split"
    files = split_files(home)
    if not files:
        return None, ""
    splits = {}
    for split in ("train", "val", "test"):
        names = read_text_file(files[split]).split() if split in files else []
        missing = [n for n in names if n not in captions]
        if missing:
            raise UserError(f"{files[split]}: image {missing[0]} has no caption in {captions_path.name}; "
                            "fix the split file or the captions")
        splits[split] = names
    return splits, "split files " + ", ".join(p.name for p in files.values())


def image_split(images: list[str], fractions: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """A seeded split of the image names (sorted within each part)."""
    order = np.random.default_rng(seed).permutation(len(images))
    n_val, n_test = int(round(len(images) * fractions[1])), int(round(len(images) * fractions[2]))
    if len(images) - n_val - n_test < 1 or n_val < 1:
        raise UserError(f"{len(images)} images are too few to split {fractions}; give more captioned images")
    parts = {"val": order[:n_val], "test": order[n_val:n_val + n_test], "train": order[n_val + n_test:]}
    return {name: sorted(images[i] for i in parts[name]) for name in ("train", "val", "test")}
