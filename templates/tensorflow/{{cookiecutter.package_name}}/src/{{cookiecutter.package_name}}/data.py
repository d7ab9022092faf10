"""The data as the model takes it. Reading your own images: see splits.py."""

import numpy as np
import tensorflow as tf

from .splits import SPLITS, Split, class_names, load_splits, num_classes, split_image_folder

__all__ = ["SPLITS", "Split", "as_model_input", "class_names", "load_splits", "make_dataset",
           "num_classes", "split_image_folder"]


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Raw uint8 (N, H, W) pixels as the model takes them: float32 (N, H, W, 1), 0-255.

    Scaling to 0-1 happens inside the model (a Rescaling layer), so every runtime
    (LiteRT, LiteRT.js, TF Serving) takes raw pixels.
    """
    return np.ascontiguousarray(images[:, :, :, None], dtype=np.float32)


def make_dataset(split: Split, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """A tf.data pipeline whose shuffled order depends only on ``seed``."""
    dataset = tf.data.Dataset.from_tensor_slices((as_model_input(split.images), split.labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
