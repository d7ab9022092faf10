"""Images and labels, split into train, validation and test: the same for every framework.

To train on your own images, point ``data`` in configs/default.yaml at either
- a folder with one sub-folder per class (``cats/``, ``dogs/``...) of image files,
  all of one square size; they are read as grayscale and split 70/15/15, always the
  same way;
- or an .npz with the six arrays x_train, y_train, x_val, y_val, x_test, y_test
  (images as uint8 (N, H, W), labels as integers 0..classes-1), like data/digits.npz.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split: ``images`` as uint8 (N, H, W) raw pixels, ``labels`` as int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_splits(path: str | Path) -> dict[str, Split]:
    """Read the train, validation and test splits from an .npz file.

    Raises:
        ValueError: when the file is missing or lacks an array, or shapes disagree.
    """
    path = Path(path)
    if path.is_dir():
        return split_image_folder(path)
    if not path.is_file():
        raise ValueError(f"Data file {path} does not exist (set 'data' in the config).")
    with np.load(path) as arrays:
        missing = [f"{kind}_{split}" for split in SPLITS for kind in "xy"]
        missing = [key for key in missing if key not in arrays.files]
        if missing:
            raise ValueError(f"{path} lacks the array(s) {', '.join(missing)}.")
        splits = {
            split: Split(arrays[f"x_{split}"].astype(np.uint8),
                         arrays[f"y_{split}"].astype(np.int64))
            for split in SPLITS
        }
    for name, split in splits.items():
        if split.images.ndim != 3 or len(split.images) != len(split.labels):
            raise ValueError(
                f"{path}: x_{name} must be (N, H, W) with one label per image, "
                f"got {split.images.shape} and {split.labels.shape}."
            )
    return splits


def split_image_folder(root: Path, seed: int = 0) -> dict[str, Split]:
    """Read root/<class>/<image> as grayscale; labels follow the sorted class folder names."""
    from PIL import Image, UnidentifiedImageError

    images, labels = [], []
    for label, name in enumerate(class_names(root)):
        for file in sorted(p for p in (root / name).iterdir() if p.is_file()):
            try:
                with Image.open(file) as image:
                    images.append(np.asarray(image.convert("L"), dtype=np.uint8))
            except UnidentifiedImageError:
                raise ValueError(f"{file} is not an image file.") from None
            labels.append(label)
            if images[-1].shape != images[0].shape:
                raise ValueError(f"{file} is {images[-1].shape[::-1]}, but the images before it "
                                 f"are {images[0].shape[::-1]}: resize them to one size.")
    if images and images[0].shape[0] != images[0].shape[1]:
        raise ValueError(f"The images in {root} are {images[0].shape[::-1]}; the model takes "
                         "square images: crop or pad them to H = W.")
    if len(images) < 10:
        raise ValueError(f"{root} holds {len(images)} images in class folders; "
                         "at least 10 are needed to split.")
    order = np.random.default_rng(seed).permutation(len(images))
    stacked, labels_array = np.stack(images)[order], np.asarray(labels, dtype=np.int64)[order]
    cut_val, cut_test = int(0.7 * len(order)), int(0.85 * len(order))
    parts = {"train": slice(0, cut_val), "val": slice(cut_val, cut_test),
             "test": slice(cut_test, None)}
    return {name: Split(stacked[part], labels_array[part]) for name, part in parts.items()}


def class_names(path: str | Path) -> list[str]:
    """The class folders of an image folder, sorted; empty for an .npz."""
    path = Path(path)
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def num_classes(splits: dict[str, Split]) -> int:
    """The number of classes: one more than the largest label seen."""
    return int(max(split.labels.max() for split in splits.values())) + 1
