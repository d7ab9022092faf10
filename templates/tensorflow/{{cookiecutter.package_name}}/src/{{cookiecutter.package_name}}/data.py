"""The data as the model takes it. Reading your own images: see splits.py."""

import math
from collections.abc import Iterable

import numpy as np

from .config import Config
from .quiet import quiet_iter, tf
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

__all__ = ["SPLITS", "Split", "as_model_input", "augment", "augments", "class_names",
           "epoch_batches", "load_data", "load_splits", "make_dataset", "num_classes",
           "split_image_folder", "trained_on"]

# Random resized crop: the share of the image's area kept, and the crop's width/height ratio.
CROP_AREA = (0.6, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
# Colour jitter: brightness and contrast are each scaled by a factor in 1 +- JITTER.
JITTER = 0.15


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Raw uint8 (N, H, W, C) pixels as the model takes them: float32 (N, H, W, C), 0-255.

    Scaling to 0-1 happens inside the model (a Rescaling layer), so every runtime
    (LiteRT, LiteRT.js, TF Serving) takes raw pixels.
    """
    return np.ascontiguousarray(images, dtype=np.float32)


def augment(pixels: tf.Tensor) -> tf.Tensor:
    """A batch (N, H, W, C) of raw pixels, each randomly cropped and resized back, flipped
    left-right half of the time, and its brightness and contrast changed a little."""
    count, size = tf.shape(pixels)[0], tf.shape(pixels)[1:3]

    def uniform(low: float, high: float) -> tf.Tensor:
        return tf.random.uniform([count], low, high)

    area = uniform(*CROP_AREA)
    ratio = tf.exp(uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
    width = tf.minimum(tf.sqrt(area * ratio), 1.0)
    height = tf.minimum(tf.sqrt(area / ratio), 1.0)
    left, top = (1 - width) * uniform(0, 1), (1 - height) * uniform(0, 1)
    right, bottom = left + width, top + height
    flip = uniform(0, 1) < 0.5  # a box whose left is right of its right is read mirrored
    boxes = tf.stack([top, tf.where(flip, right, left), bottom, tf.where(flip, left, right)], 1)
    cropped = tf.image.crop_and_resize(pixels, boxes, tf.range(count), size)
    mean = tf.reduce_mean(cropped, axis=[1, 2, 3], keepdims=True)
    contrast = tf.reshape(uniform(1 - JITTER, 1 + JITTER), [-1, 1, 1, 1])
    brightness = tf.reshape(uniform(1 - JITTER, 1 + JITTER), [-1, 1, 1, 1])
    return tf.clip_by_value(((cropped - mean) * contrast + mean) * brightness, 0, 255)


def epoch_batches(split: Split, config: Config, epoch: int, strategy: tf.distribute.Strategy,
                  skip: int = 0) -> Iterable:
    """This epoch's batches, in an order that depends only on the seed and the epoch (so that
    a resumed run goes on after the ``skip`` batches it took), split among the strategy's
    replicas (each worker takes its share of every batch)."""
    dataset = make_dataset(split, config.batch_size, shuffle=True,
                           seed=config.seed * 10_000 + epoch, augmented=augments(config)).skip(skip)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return quiet_iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))


def make_dataset(split: Split, batch_size: int, shuffle: bool, seed: int,
                 augmented: bool = False) -> tf.data.Dataset:
    """A tf.data pipeline whose shuffled order depends only on ``seed``, prefetched.

    A split held in memory (the digits, like many first datasets) goes into the pipeline
    once, as the model's input: its batches are made without Python. A photo folder's cache
    stays on disk, and its rows are read only when their batch comes, so a folder larger
    than memory trains too. Both shuffle the same way, so a seed gives the same batches.
    """
    on_disk = isinstance(split.images, np.memmap)
    batches = (_batches_from_disk if on_disk else _batches_in_memory)(
        split, batch_size, shuffle, seed)
    if augmented:
        batches = batches.map(lambda pixels, labels: (augment(pixels), labels),
                              num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def _batches_in_memory(split: Split, batch_size: int, shuffle: bool,
                       seed: int) -> tf.data.Dataset:
    """The split's tensors, shuffled and batched. No cache(): they already are the model's
    input, in memory; cache() would keep a second copy."""
    dataset = tf.data.Dataset.from_tensor_slices((as_model_input(split.images), split.labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def _batches_from_disk(split: Split, batch_size: int, shuffle: bool,
                       seed: int) -> tf.data.Dataset:
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
