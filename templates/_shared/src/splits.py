"""Images and labels, split into train, validation and test: the same for every framework.

To train on your own images, point ``data`` in configs/default.yaml at either
- a folder with one sub-folder per class (``cats/``, ``dogs/``...) of image files,
  all of one square size; they are read as grayscale and split 70/15/15, always the
  same way; files that are not images (notes.txt, .DS_Store) are passed over, and an
  image that cannot be read is skipped with a warning;
- or an .npz with the six arrays x_train, y_train, x_val, y_val, x_test, y_test
  (images as uint8 (N, H, W), labels as integers 0..classes-1), like data/digits.npz.
"""

import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
# The model halves the image twice (two 2x2 poolings), so it needs at least 4x4 pixels.
MIN_SIDE = 4
# An image folder smaller than this cannot be split 70/15/15.
MIN_IMAGES = 10
NPZ_HINT = "write it with numpy.savez(path, x_train=..., y_train=..., x_val=..., y_val=..., " \
           "x_test=..., y_test=...)"


@dataclass(frozen=True)
class Split:
    """One split: ``images`` as uint8 (N, H, W) raw pixels, ``labels`` as int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_splits(path: str | Path) -> dict[str, Split]:
    """Read the train, validation and test splits from an .npz file or an image folder.

    Raises:
        ValueError: when the data is missing, unreadable, or not images and labels a
            classifier can learn from (the message names the file and the fix).
    """
    path = Path(path)
    if path.is_dir():
        return split_image_folder(path)
    if not path.is_file():
        raise ValueError(f"Data file {path} does not exist (set 'data' in the config).")
    arrays = _read_npz(path)
    splits = {split: Split(checked_pixels(path, f"x_{split}", arrays[f"x_{split}"]),
                           _labels(path, f"y_{split}", arrays[f"y_{split}"]))
              for split in SPLITS}
    for name, split in splits.items():
        if (split.images.ndim != 3 or split.labels.ndim != 1
                or len(split.images) != len(split.labels)):
            raise ValueError(
                f"{path}: x_{name} must be (N, H, W) with one label per image, "
                f"got {split.images.shape} and {split.labels.shape}.")
        if not len(split):
            raise ValueError(f"{path}: x_{name} is empty; every split needs at least one image.")
        if split.images.shape[1:] != splits["train"].images.shape[1:]:
            raise ValueError(f"{path}: x_{name} images are {_size(split.images)}, x_train's "
                             f"are {_size(splits['train'].images)}; make them one size.")
    _check_image_size(str(path), splits["train"].images)
    if len(np.unique(splits["train"].labels)) < 2:
        raise ValueError(f"{path}: y_train holds a single class; a classifier needs "
                         "examples of at least two classes.")
    return splits


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The six arrays of an .npz file, read into memory."""
    names = [f"{kind}_{split}" for split in SPLITS for kind in "xy"]
    try:
        with path.open("rb") as handle:
            arrays = np.load(handle)
            if not isinstance(arrays, np.lib.npyio.NpzFile):
                raise ValueError("a single array (.npy)")
            with arrays:
                found = {name: arrays[name] for name in names if name in arrays.files}
    except PermissionError as error:
        raise ValueError(f"{path} cannot be read ({error.strerror}).") from None
    except (ValueError, EOFError, OSError, AttributeError, zipfile.BadZipFile, zlib.error):
        # numpy's own words (e.g. "pickled data") would mislead: say what the file is not.
        raise ValueError(f"{path} is not a readable .npz file (empty, truncated or another "
                         f"kind of file): {NPZ_HINT}.") from None
    if missing := [name for name in names if name not in found]:
        raise ValueError(f"{path} lacks the array(s) {', '.join(missing)}: {NPZ_HINT}.")
    return found


def checked_pixels(path: Path, name: str, values: np.ndarray) -> np.ndarray:
    """Images as uint8 raw pixels; anything but 0-255 pixels is an error, never wrapped.

    Raises:
        ValueError: naming ``name`` in ``path``, the values found and the fix.
    """
    if values.dtype.kind not in "uif":
        raise ValueError(f"{path}: {name} holds {values.dtype} values; images must be numbers.")
    if values.size == 0:
        return values.astype(np.uint8)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{path}: {name} holds NaN or infinite values; images must be "
                         "raw pixels from 0 to 255.")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise ValueError(f"{path}: {name} holds values from {low:g} to {high:g}; images must be "
                         "raw pixels from 0 to 255 (uint8): rescale them to that range.")
    if values.dtype.kind == "f" and high <= 1:
        raise ValueError(f"{path}: {name} holds values from {low:g} to {high:g}, scaled to 0-1; "
                         "the model takes raw pixels from 0 to 255: multiply them by 255.")
    return np.rint(values).astype(np.uint8)


def _labels(path: Path, name: str, values: np.ndarray) -> np.ndarray:
    """Labels as int64 class numbers 0..classes-1."""
    if values.dtype.kind not in "uif" or (values.size and not np.isfinite(values).all()):
        raise ValueError(f"{path}: {name} must hold whole numbers 0..classes-1.")
    if values.size and (values.min() < 0 or (values != np.rint(values)).any()):
        bad = values[(values < 0) | (values != np.rint(values))][0]
        raise ValueError(f"{path}: {name} holds the label {bad:g}; labels are whole numbers "
                         "0..classes-1 (one per class).")
    return values.astype(np.int64)


def _size(images: np.ndarray) -> str:
    return f"{images.shape[1]}x{images.shape[2]}" if images.ndim == 3 else str(images.shape)


def _check_image_size(where: str, images: np.ndarray) -> None:
    height, width = images.shape[1:]
    if height != width:
        raise ValueError(f"The images in {where} are {height}x{width} (HxW); the model takes "
                         "square images: crop or pad them to H = W.")
    if height < MIN_SIDE:
        raise ValueError(f"The images in {where} are {height}x{width}; the model needs at "
                         f"least {MIN_SIDE}x{MIN_SIDE} pixels: enlarge them.")


def split_image_folder(root: Path, seed: int = 0) -> dict[str, Split]:
    """Read root/<class>/<image> as grayscale; labels follow the sorted class folder names."""
    classes = class_names(root)
    if len(classes) < 2:
        raise ValueError(f"{root} has {len(classes)} class folder(s); a classifier needs at "
                         "least two, one sub-folder of images per class.")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = _read_class(root / name)
        if not found:
            raise ValueError(f"The class folder {root / name} holds no readable images: add "
                             "some, or remove the folder.")
        for file, image in found:
            if image.shape != (images or [image])[0].shape:
                raise ValueError(f"{file} is {_size(image[None])}, but the images before it "
                                 f"are {_size(images[0][None])}: resize them to one size.")
            images.append(image)
        labels += [label] * len(found)
    _check_image_size(str(root), np.stack(images))
    if len(images) < MIN_IMAGES:
        raise ValueError(f"{root} holds {len(images)} images in class folders; "
                         f"at least {MIN_IMAGES} are needed to split.")
    order = np.random.default_rng(seed).permutation(len(images))
    stacked, labels_array = np.stack(images)[order], np.asarray(labels, dtype=np.int64)[order]
    cut_val, cut_test = int(0.7 * len(order)), int(0.85 * len(order))
    parts = {"train": slice(0, cut_val), "val": slice(cut_val, cut_test),
             "test": slice(cut_test, None)}
    return {name: Split(stacked[part], labels_array[part]) for name, part in parts.items()}


def _read_class(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """A class folder's images as grayscale; unreadable images are skipped with a warning."""
    from PIL import Image

    image_suffixes = set(Image.registered_extensions())
    images = []
    for file in sorted(folder.iterdir()):
        if file.name.startswith(".") or file.suffix.lower() not in image_suffixes:
            continue  # notes.txt, .DS_Store and the like: not images, nothing to say
        try:
            with Image.open(file) as image:
                images.append((file, np.asarray(image.convert("L"), dtype=np.uint8)))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            print(f"warning: skipped {file}: not a readable image ({error}).", file=sys.stderr)
    return images


def class_names(path: str | Path) -> list[str]:
    """The class folders of an image folder, sorted (hidden ones left out); empty for an .npz."""
    path = Path(path)
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def num_classes(splits: dict[str, Split]) -> int:
    """The number of classes: one more than the largest label seen."""
    return int(max(split.labels.max() for split in splits.values())) + 1
