"""A folder of photos, one sub-folder per class, decoded once into a cache on disk.

Every image is turned into pixels by images.load_image (one preprocessing for the whole
project) and written into memory-mapped .npy files, one per split, under the cache folder.
The cache is reused while the folder is unchanged (same file names, sizes and times) and the
settings are the same; a folder larger than memory trains too, since batches are read from
the memory map. Files that are not images are passed over without a word; an image that
cannot be read is skipped with a warning naming it, and counted.
"""

import hashlib
import json
import os
import shutil
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .images import FORMATS, UNREADABLE, is_image_file, load_image, max_pixels

# Part of the cache's key: change it when the way images are stored changes.
CACHE_VERSION = 1
# A class needs one image for each of train, validation and test.
MIN_PER_CLASS = 3
# Largest class / smallest class at or above which the counts are reported as imbalanced.
IMBALANCE = 3.0
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


@dataclass(frozen=True)
class Folder:
    """The image files of root/<class>/ and their labels (sorted class names, sorted files)."""

    root: Path
    classes: list[str]
    files: list[Path]
    labels: np.ndarray


def scan(root: Path) -> Folder:
    """Find the class folders and their image files.

    A file or folder whose name is not valid UTF-8, and a class folder that is a link to
    another class folder (or into one), are skipped with a warning naming them.

    Raises:
        ValueError: for fewer than two class folders, or a class folder without images.
    """
    classes = class_folders(root)
    if len(classes) < 2:
        found = ", ".join(classes) or "none"
        raise ValueError(
            f"{root} has {len(classes)} class folder(s) ({found}); a classifier "
            "needs at least two: one sub-folder of images per class."
        )
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if is_image_file(p) and utf8_named(p))
        if len(found) < MIN_PER_CLASS:
            raise ValueError(
                f"The class folder {root / name} holds {len(found)} image file(s); "
                f"each class needs at least {MIN_PER_CLASS} (one each for training, "
                "validation and test): add images, or remove the folder."
            )
        files += found
        labels += [label] * len(found)
    return Folder(root, classes, files, np.asarray(labels, dtype=np.int64))


def class_folders(root: Path) -> list[str]:
    """The sorted names of root's class folders, each holding images no other one holds."""
    names = [
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and utf8_named(p)
    ]
    kept: dict[Path, Path] = {}  # real folder -> the class folder that is it
    for name in sorted(names, key=lambda name: ((root / name).is_symlink(), name)):
        real = (root / name).resolve()
        same = next(
            (
                folder
                for other, folder in kept.items()
                if real == other or other in real.parents or real in other.parents
            ),
            None,
        )
        if same is not None:  # its images would train twice, under two labels
            print(
                f"warning: skipped the class folder {root / name}: it is a link to "
                f"{real}, the images of the class folder {same}.",
                file=sys.stderr,
            )
            continue
        kept[real] = root / name
    return sorted(folder.name for folder in kept.values())


def utf8_named(path: Path) -> bool:
    """Whether ``path`` can be written as UTF-8 (the cache and manifest are); else warn."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        print(
            f"warning: skipped {str(path)!r}: its name is not valid UTF-8; rename it.",
            file=sys.stderr,
        )
        return False
    return True


def is_colour(path: Path) -> bool:
    """Whether an image holds colour, from its header (a palette is checked for grays)."""
    try:
        with Image.open(path, formats=FORMATS) as image:
            if image.mode == "P":
                palette = np.asarray(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
                return bool((palette != palette[:, :1]).any())
            return image.mode not in GRAY_MODES
    except UNREADABLE:
        return False  # unreadable: skipped later, with its warning


def auto_channels(folder: Folder) -> int:
    """3 when any image of the folder is in colour, else 1."""
    return 3 if any(is_colour(path) for path in folder.files) else 1


def fingerprint(folder: Folder, size: int, channels: int) -> str:
    """A key that changes when any file is added, removed, replaced or edited, or the pixel
    limit changes (it decides which images are skipped)."""
    digest = hashlib.sha256(f"{CACHE_VERSION} {size} {channels} {max_pixels()}".encode())
    for path in folder.files:
        stat = path.stat()
        digest.update(
            f"{path.relative_to(folder.root)} {stat.st_size} {stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:16]


def stable_rank(path: Path) -> int:
    """A number fixed by the file's name alone: the order files are dealt into splits."""
    return zlib.crc32(path.name.encode())


def assign_splits(folder: Folder, fractions: tuple[float, float] = (0.15, 0.15)) -> np.ndarray:
    """0 (train), 1 (val) or 2 (test) for each file: stratified, the same on every run."""
    assignment = np.zeros(len(folder.files), dtype=np.int64)
    for label in range(len(folder.classes)):
        members = np.flatnonzero(folder.labels == label)
        ranked = sorted(
            members, key=lambda index: (stable_rank(folder.files[index]), folder.files[index].name)
        )
        val = max(1, round(fractions[0] * len(ranked)))
        test = max(1, round(fractions[1] * len(ranked)))
        assignment[ranked[:val]] = 1
        assignment[ranked[val : val + test]] = 2
    return assignment


def decode_all(
    files: list[Path], decode: Callable[[Path], np.ndarray], rows: np.ndarray
) -> list[str]:
    """Decode ``files`` into ``rows`` (readable ones first, in order); return the failures."""
    failures, written = [], 0
    # Pillow decodes outside the GIL: threads suffice. Each decode may take up to ~1 GB at the
    # pixel limit (images.MAX_PIXELS), so a few at once.
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(_attempt(decode), files)
        for path, result in tqdm(
            zip(files, results, strict=True),
            total=len(files),
            desc="decoding images",
            leave=False,
            disable=None,
        ):
            if isinstance(result, str):
                print(f"warning: skipped {path}: {result}", file=sys.stderr)
                failures.append(str(path))
                continue
            rows[written] = result
            written += 1
    return failures


def _attempt(decode: Callable[[Path], np.ndarray]) -> Callable[[Path], np.ndarray | str]:
    def run(path: Path) -> np.ndarray | str:
        try:
            return decode(path)
        except ValueError as error:
            return str(error).replace(f"{path} ", "", 1)

    return run


def cached_arrays(
    folder: Folder, size: int, channels: int, cache_dir: Path | None, assignment: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The pixels and labels of each split, from the cache or decoded now (and cached)."""
    key = fingerprint(folder, size, channels)
    place = cache_dir / f"images-{key}" if cache_dir else None
    if place and (place / "done.json").is_file():
        done = json.loads((place / "done.json").read_text())
        for path in done["skipped"]:
            print(
                f"warning: skipped {path}: not a readable image (found when the cache "
                f"{place} was made).",
                file=sys.stderr,
            )
        labels = [np.load(place / f"labels{part}.npy") for part in range(3)]
        images = [
            np.load(place / f"{part}.npy", mmap_mode="r")[: len(labels[part])] for part in range(3)
        ]
        return images, labels, done["skipped"]
    if place:
        forget_other_caches(cache_dir, place)
        place.mkdir(parents=True, exist_ok=True)
    images, labels, skipped = [], [], []
    for part in range(3):
        chosen = np.flatnonzero(assignment == part)
        shape = (len(chosen), size, size, channels)
        rows = (
            np.lib.format.open_memmap(place / f"{part}.npy", "w+", np.uint8, shape)
            if place
            else np.empty(shape, np.uint8)
        )
        failed = set(
            decode_all(
                [folder.files[i] for i in chosen],
                lambda path: load_image(path, size, channels),
                rows,
            )
        )
        kept = np.asarray([i for i in chosen if str(folder.files[i]) not in failed], np.int64)
        if place:
            rows.flush()
            np.save(place / f"labels{part}.npy", folder.labels[kept])
        images.append(rows[: len(kept)])
        labels.append(folder.labels[kept])
        skipped += sorted(failed)
    if place:  # written last: a cache without it was interrupted, and is made again
        (place / "done.json").write_text(json.dumps({"skipped": skipped}) + "\n")
    return images, labels, skipped


def forget_other_caches(cache_dir: Path | None, keep: Path) -> None:
    """Remove the caches of earlier versions of the folder (or other settings)."""
    for old in cache_dir.glob("images-*") if cache_dir and cache_dir.is_dir() else []:
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
