"""The data as the model takes it: tf.data pipelines, and the augmentation of training images.

Reading your own images: see splits.py.
"""

from collections.abc import Iterable

import numpy as np

from .config import Config
from .quiet import keras, quiet_iter, tf
from .splits import (
    SPLITS,
    Split,
    augments,
    class_names,
    load_data,
    load_splits,
    num_classes,
    split_image_folder,
    trained_on,
)

__all__ = [
    "SPLITS",
    "Split",
    "as_model_input",
    "augment",
    "augmentation",
    "augments",
    "class_names",
    "epoch_batches",
    "load_data",
    "load_splits",
    "make_dataset",
    "num_classes",
    "split_image_folder",
    "trained_on",
]


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Raw uint8 (N, H, W, C) pixels as the model takes them: float32 (N, H, W, C), 0-255.

    Scaling to 0-1 happens inside the model (a Rescaling layer), so every runtime
    (LiteRT, LiteRT.js, TF Serving) takes raw pixels.
    """
    return np.ascontiguousarray(images, dtype=np.float32)


def augmentation() -> keras.Sequential:
    """The transforms of training images, in order (Keras preprocessing layers, on raw 0-255
    pixels): edit this list to change the augmentation. The train step runs them on the
    device, and the resume state keeps where their random numbers are (checkpoint.py). Made
    when training asks for it, never at import: a layer made at import starts TensorFlow
    before the strategy exists."""
    return keras.Sequential(
        [
            keras.layers.RandomZoom((-0.4, 0.0), fill_mode="nearest"),  # a crop, resized back
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomContrast(0.15, value_range=(0, 255)),
            keras.layers.RandomBrightness(0.15, value_range=(0, 255)),
        ]
    )


def augment(pixels: tf.Tensor, transforms: keras.Sequential) -> tf.Tensor:
    """A batch (N, H, W, C) of raw pixels through ``transforms``, kept within 0-255."""
    return tf.clip_by_value(transforms(pixels, training=True), 0, 255)


def epoch_batches(
    split: Split, config: Config, epoch: int, strategy: tf.distribute.Strategy, skip: int = 0
) -> Iterable:
    """This epoch's batches, in an order that depends only on the seed and the epoch (so that
    a resumed run goes on after the ``skip`` batches it took), split among the strategy's
    replicas (each worker takes its share of every batch)."""
    dataset = make_dataset(
        split, config.batch_size, shuffle=True, seed=config.seed * 10_000 + epoch
    ).skip(skip)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return quiet_iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))


def make_dataset(split: Split, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """A tf.data pipeline whose shuffled order depends only on ``seed``, prefetched.

    A split held in memory (the digits, like many first datasets) goes into the pipeline
    once, as the model's input: its batches are made without Python. A photo folder's cache
    stays on disk, and its rows are read only when their batch comes, so a folder larger
    than memory trains too. Both shuffle the same way, so a seed gives the same batches.
    """
    on_disk = isinstance(split.images, np.memmap)
    batches = (_batches_from_disk if on_disk else _batches_in_memory)(
        split, batch_size, shuffle, seed
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def _batches_in_memory(split: Split, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """The split's tensors, shuffled and batched. No cache(): they already are the model's
    input, in memory; cache() would keep a second copy."""
    dataset = tf.data.Dataset.from_tensor_slices((as_model_input(split.images), split.labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def _batches_from_disk(split: Split, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    shape = (None, *split.images.shape[1:])

    def read(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.sort(indices)  # in file order: the cache is read front to back
        return as_model_input(split.images[rows]), split.labels[rows]

    def read_batch(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        pixels, labels = tf.numpy_function(read, [indices], (tf.float32, tf.int64))
        return tf.ensure_shape(pixels, shape), tf.ensure_shape(labels, (None,))

    dataset = tf.data.Dataset.range(len(split))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).map(read_batch, num_parallel_calls=tf.data.AUTOTUNE)
