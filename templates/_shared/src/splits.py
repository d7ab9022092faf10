"""Images and labels, split into train, validation and test: the same for every framework.

To train on your own images, point ``data`` in configs/default.yaml at either
- a folder with one sub-folder per class (``cats/``, ``dogs/``...) of photos of any size
  and kind Pillow reads (JPEG, PNG, WebP, BMP, GIF; colour, grayscale, 16-bit...). Each is
  made square and resized one way (images.py) to ``image_size``, with ``channels`` 3 when
  any image is in colour; the split is 70/15/15 in every class, always the same way; files
  that are not images (notes.txt, .DS_Store) are passed over, and an image that cannot be
  read is skipped with a warning naming it;
- or an .npz with the six arrays x_train, y_train, x_val, y_val, x_test, y_test
  (images as uint8 (N, H, W), labels as integers 0..classes-1), like data/digits.npz.
"""

import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import image_folder
from .config import Config, with_overrides
from .model import PHOTO_SIZE, model_spec

SPLITS = ("train", "val", "test")
# The model halves the image twice (two 2x2 poolings), so it needs at least 4x4 pixels.
MIN_SIDE = 4
NPZ_HINT = (
    "write it with numpy.savez(path, x_train=..., y_train=..., x_val=..., y_val=..., "
    "x_test=..., y_test=...)"
)


@dataclass(frozen=True)
class Split:
    """One split: ``images`` as uint8 (N, H, W, C) raw pixels, ``labels`` as int64 (N,).

    For a photo folder ``images`` is a memory map of the cache: rows are read when used.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_splits(
    path: str | Path,
    image_size: int | str = "auto",
    channels: int | str = "auto",
    cache_dir: Path | None = None,
) -> dict[str, Split]:
    """Read the train, validation and test splits from an .npz file or an image folder.

    ``image_size`` and ``channels`` (``auto`` or a number) apply to a folder; an .npz's
    images keep their own size and have one channel.

    Raises:
        ValueError: when the data is missing, unreadable, or not images and labels a
            classifier can learn from (the message names the file and the fix).
    """
    path = Path(path)
    if path.is_dir():
        return split_image_folder(path, image_size, channels, cache_dir)
    if not path.is_file():
        raise ValueError(f"Data file {path} does not exist (set 'data' in the config).")
    arrays = _read_npz(path)
    splits = {
        split: Split(
            checked_pixels(path, f"x_{split}", arrays[f"x_{split}"]),
            _labels(path, f"y_{split}", arrays[f"y_{split}"]),
        )
        for split in SPLITS
    }
    for name, split in splits.items():
        if (
            split.images.ndim != 3
            or split.labels.ndim != 1
            or len(split.images) != len(split.labels)
        ):
            raise ValueError(
                f"{path}: x_{name} must be (N, H, W) with one label per image, "
                f"got {split.images.shape} and {split.labels.shape}."
            )
        if not len(split):
            raise ValueError(f"{path}: x_{name} is empty; every split needs at least one image.")
        if split.images.shape[1:] != splits["train"].images.shape[1:]:
            raise ValueError(
                f"{path}: x_{name} images are {_size(split.images)}, x_train's "
                f"are {_size(splits['train'].images)}; make them one size."
            )
    _check_image_size(str(path), splits["train"].images)
    if len(np.unique(splits["train"].labels)) < 2:
        raise ValueError(
            f"{path}: y_train holds a single class; a classifier needs "
            "examples of at least two classes."
        )
    _check_npz_settings(path, splits["train"].images.shape[1], image_size, channels)
    return {name: Split(split.images[..., None], split.labels) for name, split in splits.items()}


def _check_npz_settings(path: Path, side: int, image_size: int | str, channels: int | str) -> None:
    """An .npz is used as it is: a size or channel count it does not have is an error."""
    if image_size not in ("auto", side):
        raise ValueError(
            f"{path} holds {side}x{side} images, but image_size is {image_size}: "
            "set image_size: auto (an .npz is used at its own size)."
        )
    if channels not in ("auto", 1):
        raise ValueError(
            f"{path} holds grayscale images (N, H, W), but channels is {channels}: "
            "set channels: auto."
        )


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
        raise ValueError(
            f"{path} is not a readable .npz file (empty, truncated or another "
            f"kind of file): {NPZ_HINT}."
        ) from None
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
        raise ValueError(
            f"{path}: {name} holds NaN or infinite values; images must be raw pixels from 0 to 255."
        )
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"{path}: {name} holds values from {low:g} to {high:g}; images must be "
            "raw pixels from 0 to 255 (uint8): rescale them to that range."
        )
    if values.dtype.kind == "f" and high <= 1:
        raise ValueError(
            f"{path}: {name} holds values from {low:g} to {high:g}, scaled to 0-1; "
            "the model takes raw pixels from 0 to 255: multiply them by 255."
        )
    return np.rint(values).astype(np.uint8)


def _labels(path: Path, name: str, values: np.ndarray) -> np.ndarray:
    """Labels as int64 class numbers 0..classes-1."""
    if values.dtype.kind not in "uif" or (values.size and not np.isfinite(values).all()):
        raise ValueError(f"{path}: {name} must hold whole numbers 0..classes-1.")
    if values.size and (values.min() < 0 or (values != np.rint(values)).any()):
        bad = values[(values < 0) | (values != np.rint(values))][0]
        raise ValueError(
            f"{path}: {name} holds the label {bad:g}; labels are whole numbers "
            "0..classes-1 (one per class)."
        )
    return values.astype(np.int64)


def _size(images: np.ndarray) -> str:
    return f"{images.shape[1]}x{images.shape[2]}" if images.ndim == 3 else str(images.shape)


def _check_image_size(where: str, images: np.ndarray) -> None:
    height, width = images.shape[1:3]
    if height != width:
        raise ValueError(
            f"The images in {where} are {height}x{width} (HxW); the model takes "
            "square images: crop or pad them to H = W."
        )
    _check_side(where, height)


def _check_side(where: str, side: int) -> None:
    if side < MIN_SIDE:
        raise ValueError(
            f"The images in {where} are {side}x{side}; the model needs at "
            f"least {MIN_SIDE}x{MIN_SIDE} pixels: enlarge them (image_size)."
        )


def split_image_folder(
    root: Path,
    image_size: int | str = "auto",
    channels: int | str = "auto",
    cache_dir: Path | None = None,
) -> dict[str, Split]:
    """root/<class>/<image>, decoded by images.load_image; labels follow the sorted class names.

    The split is stratified (70/15/15 in every class) and stable: a file's split depends on
    its name alone. With ``cache_dir``, the pixels are kept there and reused (image_folder.py).
    """
    folder = image_folder.scan(root)
    size = PHOTO_SIZE if image_size == "auto" else int(image_size)
    depth = image_folder.auto_channels(folder) if channels == "auto" else int(channels)
    _check_side(str(root), size)
    assignment = image_folder.assign_splits(folder)
    images, labels, skipped = image_folder.cached_arrays(folder, size, depth, cache_dir, assignment)
    splits = {name: Split(images[part], labels[part]) for part, name in enumerate(SPLITS)}
    counts = np.bincount(np.concatenate(labels), minlength=len(folder.classes))
    if small := [
        name
        for name, count in zip(folder.classes, counts, strict=True)
        if count < image_folder.MIN_PER_CLASS
    ]:
        raise ValueError(
            f"The class folder(s) {', '.join(str(root / n) for n in small)} hold "
            f"fewer than {image_folder.MIN_PER_CLASS} readable images; each class "
            "needs one each for training, validation and test: add images."
        )
    _summarise(root, folder.classes, counts, (size, depth), skipped)
    return splits


def _summarise(
    root: Path, classes: list[str], counts: np.ndarray, shape: tuple[int, int], skipped: list[str]
) -> None:
    """One line on what was read, another on skipped files or unequal classes."""
    listed = ", ".join(f"{name} {count}" for name, count in zip(classes, counts, strict=True))
    print(
        f"data: {root}: {counts.sum()} images in {len(classes)} classes ({listed}), "
        f"as {shape[0]}x{shape[0]}x{shape[1]}",
        file=sys.stderr,
    )
    if skipped:
        print(
            f"warning: skipped {len(skipped)} unreadable image(s) of {root} (named above).",
            file=sys.stderr,
        )
    if counts.max() >= image_folder.IMBALANCE * counts.min():
        print(
            f"warning: the classes are imbalanced (largest {counts.max()}, smallest "
            f"{counts.min()}: {listed}); accuracy alone can mislead, so look at each class, "
            "or add images to the small ones.",
            file=sys.stderr,
        )


def class_names(path: str | Path) -> list[str]:
    """The class folders of an image folder, sorted (hidden ones left out); empty for an .npz."""
    path = Path(path)
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def num_classes(splits: dict[str, Split]) -> int:
    """The number of classes: one more than the largest label seen."""
    return int(max(split.labels.max() for split in splits.values())) + 1


def load_data(config: Config, cache: bool = True) -> dict[str, Split]:
    """The config's data at its image_size and channels; a photo folder's pixels are cached
    in run_dir/cache (``cache``) and reused while the folder is unchanged."""
    cache_dir = Path(config.run_dir) / "cache" if cache else None
    auto = config.image_size == "auto" and Path(config.data).is_dir()
    size = model_spec(config.model).photo_size if auto else config.image_size
    return load_splits(config.data, size, config.channels, cache_dir)


def augments(config: Config) -> bool:
    """Whether training images are augmented: ``auto`` is yes for a photo folder and no for
    an .npz (the digits: a flipped digit is another digit)."""
    return Path(config.data).is_dir() if config.augment == "auto" else bool(config.augment)


def trained_on(config: Config, saved: dict) -> Config:
    """``config`` with the data settings a checkpoint was trained with (``saved``: its config),
    which ``train --set data=...`` may have changed from the config file's."""
    keys = ("data", "image_size", "channels", "model")
    return with_overrides(config, **{key: saved[key] for key in keys if key in saved})
