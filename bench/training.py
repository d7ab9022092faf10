"""Training throughput of one variant, run in the starter environment; prints samples/s.

python bench/training.py VARIANT PROJECT_DIR EPOCHS [THREADS]

Variants train the same model on the same data (the bundled digits' training split) with
batch 64 for EPOCHS epochs:
  pytorch-generated       the generated starter's loop and settings (threads, Batches
                          with the split in memory, AdamW, OneCycle)
  pytorch-generated-disk  the same, the split read per batch from a memory-mapped .npy, as the
                          starter reads a photo folder's cache
  pytorch-minimal         a plain hand-written loop, PyTorch's default settings
  pytorch-lightning       PyTorch Lightning's Trainer (no logger, checkpoints or progress bar)
  keras-generated         the generated starter's loop (strategy.run in a tf.function), tf.data
                          pipeline (the split in memory: from_tensor_slices), threads and compile
                          settings
  keras-generated-disk    the same, the split read per batch from a memory-mapped .npy
                          (tf.numpy_function, the pipeline every split took before)
  keras-plain             model.fit on NumPy arrays with Keras's defaults
Each variant runs in its own process: TensorFlow fixes its threads once it starts.
THREADS (default 0: every core, the starters' default) sets every variant's CPU threads: on a
machine that other work keeps busy, threads that wait for a core slow PyTorch down manyfold.
"""

import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BATCH = 64
THREADS = 0  # CPU threads of every variant; 0 for every core


def training_split(project: Path, on_disk: bool) -> Any:
    """The digits' training split, in memory or (``on_disk``) as a memory map of a .npy file."""
    data = package(project, "data")
    split = data.load_splits(project / "data" / "digits.npz")["train"]
    if not on_disk:
        return split
    import numpy as np

    cache = Path(tempfile.mkdtemp()) / "train.npy"
    np.save(cache, split.images)
    return data.Split(np.load(cache, mmap_mode="r"), split.labels)


def package(project: Path, module: str):
    sys.path.insert(0, str(project / "src"))
    name = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file())
    return importlib.import_module(f"{name}.{module}")


def pytorch_generated(project: Path, epochs: int, on_disk: bool = False) -> float:
    import torch

    train = package(project, "train")
    distributed = package(project, "distributed")
    split = training_split(project, on_disk)
    distributed.set_threads(THREADS)
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    batches = package(project, "data").Batches(split, BATCH, True, 0, distributed.Process(cpu))
    model = package(project, "model").DigitsCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, 3e-3, total_steps=epochs * len(batches)
    )
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        batches.set_epoch(epoch)
        train.train_one_epoch(
            model,
            batches,
            optimizer,
            scheduler,
            package(project, "precision").mixed_precision("float32", cpu),
            cpu,
            package(project, "progress").Progress().counter(0, None),
            show_progress=False,
        )
    return epochs * len(split) / (time.perf_counter() - start)


def _tensors(project: Path):
    import numpy as np
    import torch

    arrays = np.load(project / "data" / "digits.npz")
    pixels = torch.from_numpy(arrays["x_train"].astype(np.float32)[:, None])
    return pixels, torch.from_numpy(arrays["y_train"].astype(np.int64))


def pytorch_minimal(project: Path, epochs: int) -> float:
    import torch

    pixels, labels = _tensors(project)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(pixels, labels), batch_size=BATCH, shuffle=True
    )
    model = package(project, "model").DigitsCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        for batch, target in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(batch), target).backward()
            optimizer.step()
    return epochs * len(labels) / (time.perf_counter() - start)


def pytorch_lightning(project: Path, epochs: int) -> float:
    import pytorch_lightning as pl
    import torch

    pixels, labels = _tensors(project)
    network = package(project, "model").DigitsCNN()

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def training_step(self, batch, _):
            return torch.nn.functional.cross_entropy(self.network(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=3e-3)

    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(pixels, labels), batch_size=BATCH, shuffle=True
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(Module(), loader)
    return epochs * len(labels) / (time.perf_counter() - start)


def keras_generated(project: Path, epochs: int, on_disk: bool = False) -> float:
    import keras
    import tensorflow as tf

    train = package(project, "train")
    config = package(project, "config").load_config(project / "configs" / "default.yaml")
    config = package(project, "config").with_overrides(config, batch_size=BATCH)
    split = training_split(project, on_disk)
    package(project, "distributed").set_threads(THREADS)
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.get_strategy()
    model = package(project, "model").build_model()
    optimizer = keras.optimizers.AdamW(3e-3, weight_decay=1e-4)
    step = train.make_train_step(model, optimizer, strategy, jit_compile=config.compile)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        batches = package(project, "data").epoch_batches(split, config, epoch, strategy)
        train.train_one_epoch(
            step, batches, package(project, "progress").Progress().counter(0, None)
        )
    return epochs * len(split) / (time.perf_counter() - start)


def keras_plain(project: Path, epochs: int) -> float:
    import keras
    import numpy as np

    arrays = np.load(project / "data" / "digits.npz")
    pixels, labels = arrays["x_train"].astype(np.float32)[..., None], arrays["y_train"]
    if THREADS:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    keras.utils.set_random_seed(0)
    model = package(project, "model").build_model()
    model.compile(
        optimizer="adamw", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    start = time.perf_counter()
    model.fit(pixels, labels, batch_size=BATCH, epochs=epochs, verbose=0)
    return epochs * len(labels) / (time.perf_counter() - start)


VARIANTS = {
    "pytorch-generated": pytorch_generated,
    "pytorch-generated-disk": lambda project, epochs: pytorch_generated(project, epochs, True),
    "pytorch-minimal": pytorch_minimal,
    "pytorch-lightning": pytorch_lightning,
    "keras-generated": keras_generated,
    "keras-generated-disk": lambda project, epochs: keras_generated(project, epochs, True),
    "keras-plain": keras_plain,
}

if __name__ == "__main__":
    variant, project_dir, epoch_count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    THREADS = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    if THREADS:
        os.environ["OMP_NUM_THREADS"] = str(THREADS)  # PyTorch reads it when it starts
    print(json.dumps({"samples_per_second": VARIANTS[variant](project_dir, epoch_count)}))
