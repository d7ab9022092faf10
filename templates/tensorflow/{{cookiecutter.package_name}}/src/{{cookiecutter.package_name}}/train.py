"""Train the model.

python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: ``fit`` takes the settings, the data, the model and its optimizer, then
runs one loop of train-an-epoch / validate / keep-the-best, and a final test evaluation.
The same command continues an interrupted run (checkpoint.py), and runs unchanged
as one worker of several with TF_CONFIG set (distributed.py).
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from . import checkpoint, distributed, run_lock{{ ", tracking" if cookiecutter.tracking else "" }}
from .backbone import backbone_of, phased
from .checkpoint import CHECKPOINT, load_checkpoint, save_settings
from .config import Config, load_config, parse_override
from .data import (
    Split,
    augment,
    augmentation,
    augments,
    epoch_batches,
    load_data,
    make_dataset,
    num_classes,
)
from .model import build_model
from .precision import mixed_precision
from .progress import Progress, Stopped, figures, stop_signals
from .quiet import keras, tf
{%- if cookiecutter.tracking or cookiecutter.tuning %}
{%- set uses = (["tracking.py logs them"] if cookiecutter.tracking else []) + (["tune.py prunes trials"] if cookiecutter.tuning else []) %}

# Called with each finished epoch's figures ({{ uses | join(", ") }}).
EPOCH_LISTENERS: list[Callable[[dict[str, float]], None]] = [
{{- "tracking.log_epoch" if cookiecutter.tracking else "" }}]
{%- endif %}


def fit(
    config: Config,
    process: distributed.Process,
    threads: int,
    fresh: bool = False,
    dry_run: bool = False,
    folder: Path | None = None,
) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split.
    ``folder``: where this process writes (run_dir for the chief, a temporary one else)."""
    splits = load_data(config, cache=not dry_run)
    classes, shape = num_classes(splits), splits["train"].images.shape
    steps_per_epoch = len(make_dataset(splits["train"], config.batch_size, False, config.seed))
    with process.strategy.scope():
        model = build_model(config.model, classes, shape[1], shape[3], config.weights)
        optimizer = make_optimizer(model, config, steps_per_epoch)
        transforms = augmentation() if augments(config) else None
    steps = phased(
        model,
        config.head_epochs,
        partial(make_train_step, model, optimizer, process.strategy, config.compile, transforms),
        process.print,
    )
    val_data = make_dataset(splits["val"], 256, shuffle=False, seed=config.seed)
    if dry_run:
        return dry_run_step(steps, model, (splits["train"], val_data), config, process)

    run_dir = Path(config.run_dir)
    folder = folder or run_dir
    state = checkpoint.ResumeState(model, optimizer, transforms)
    progress = state.restore(run_dir, config, fresh, forget=process.main)
    saver = state.saver(folder, config)
    save_settings((folder / CHECKPOINT).with_suffix(".json"), config, classes, shape)
    writer = tf.summary.create_file_writer(str(folder / "tensorboard"))
    announce(config, process, len(splits["train"]), threads, progress)
    # Every worker saves (saving is collective); the others' copies go to a temporary folder.
    save_state = partial(state.save, saver, progress)
    with stop_signals(
        partial(distributed.agree, process=process), every=distributed.stop_check_every(process)
    ) as stop:
        step_done = progress.counter(config.checkpoint_every_steps, save_state, stop)
        for epoch in range(progress.next_epoch, config.epochs + 1):
            batches = epoch_batches(
                splits["train"], config, epoch, process.strategy, skip=progress.step
            )
            start = time.perf_counter()
            train_one_epoch(steps(epoch), batches, step_done)
            progress.train_seconds += time.perf_counter() - start
            # A resumed epoch's steps before the stop count too.
            record = {"train_loss": progress.epoch_loss}
            val = evaluate(model, val_data)
            record.update({f"val_{name}": value for name, value in val.items()})
            best = progress.add(epoch, record)
            with writer.as_default():
                for name, value in record.items():
                    tf.summary.scalar(name, value, epoch)
            if best:
                checkpoint.save(model, folder / CHECKPOINT)
            save_state()
{%- if cookiecutter.tracking or cookiecutter.tuning %}
            if process.main:
                epoch_finished(progress.history[-1])
{%- endif %}
            process.print(
                f"epoch {epoch:>3}/{config.epochs}  {figures(record)}"
                f"{'  (best, saved)' if best else ''}"
            )
            progress.stop_if_asked(stop, None)  # just saved
        writer.close()
        # A signal from here on is too late to stop anything: the run finishes.
        return report(config, process, splits, folder, progress, threads)


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
    jit_compile: bool,
    transforms: keras.Sequential | None = None,
) -> Callable:
    """One optimizer step on a batch the strategy has split among its replicas (every GPU of
    every worker), its images augmented by ``transforms`` first (if any); returns the batch's
    summed loss and its number of images."""

    def replica_step(pixels: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if transforms is not None:
            pixels = augment(pixels, transforms)
        with tf.GradientTape() as tape:
            logits = tf.cast(model(pixels, training=True), tf.float32)
            losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            # The mean over the whole batch, across replicas: their gradients are summed.
            loss = optimizer.scale_loss(tf.nn.compute_average_loss(losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return tf.reduce_sum(losses), tf.cast(tf.size(losses), tf.float32)

    @tf.function(jit_compile=jit_compile or None)
    def step(batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        total, count = strategy.run(replica_step, args=batch)
        return (strategy.reduce("SUM", total, axis=None), strategy.reduce("SUM", count, axis=None))

    return step


def train_one_epoch(
    step: Callable,
    batches: Iterable,
    step_done: Callable[[tf.Tensor, tf.Tensor], None],
    max_batches: int | None = None,
) -> None:
    """One pass over the training data. ``step_done`` is called after each step with the
    batch's summed loss (a tensor: reading it would wait for the device) and its number of
    images."""
    for number, batch in enumerate(batches):
        if max_batches is not None and number >= max_batches:
            break
        step_done(*step(batch))


def evaluate(
    model: keras.Model, batches: Iterable, max_batches: int | None = None
) -> dict[str, float]:
    """Each metric's mean over the batches (every worker evaluates them all: its weights are
    the same). A metric is one more entry below, summed over a batch's images; it reaches the
    epoch line, TensorBoard and metrics.json."""
    sums: dict[str, tf.Tensor] = {}
    images = 0
    for number, (pixels, labels) in enumerate(batches):
        if max_batches is not None and number >= max_batches:
            break
        logits = logits_of(model, pixels)
        batch = {
            "loss": keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
            "accuracy": keras.metrics.sparse_categorical_accuracy(labels, logits),
        }
        for name, value in batch.items():
            sums[name] = sums.get(name, 0.0) + tf.reduce_sum(tf.cast(value, tf.float64))
        images += len(labels)
    return {name: float(value) / images for name, value in sums.items()}


@tf.function
def logits_of(model: keras.Model, pixels: tf.Tensor) -> tf.Tensor:
    return tf.cast(model(pixels, training=False), tf.float32)


def make_optimizer(
    model: keras.Model, config: Config, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    """AdamW with cosine decay (call inside the strategy's scope); a pretrained backbone
    fine-tunes at a tenth of the new head's learning rate."""
    if backbone_of(model) is not None:
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [config.head_epochs * steps_per_epoch],
            [config.learning_rate, config.learning_rate / 10],
        )
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=config.epochs * steps_per_epoch
        )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    # Its state for every weight, made now, while all are trainable: a frozen backbone's
    # weights get theirs too, ready for fine-tuning and for a resumed run's checkpoint.
    optimizer.build(model.trainable_variables)
    return optimizer


def dry_run_step(
    steps: Callable[[int], Callable],
    model: keras.Model,
    data: tuple[Split, Iterable],
    config: Config,
    process: distributed.Process,
) -> dict:
    """One training and one validation batch, as training takes them, writing nothing."""
    progress = Progress()
    train_one_epoch(
        steps(1),
        epoch_batches(data[0], config, 1, process.strategy),
        progress.counter(0, None),
        max_batches=1,
    )
    val = evaluate(model, data[1], max_batches=1)
    process.print(
        f"dry run on {process.device}: train loss {progress.epoch_loss:.4f}, "
        f"val loss {val['loss']:.4f}"
    )
    return {"train_loss": progress.epoch_loss, "val_loss": val["loss"], "device": process.device}


def train(config: Config, dry_run: bool = False, fresh: bool = False) -> dict:
    """Train (``fit``). With several GPUs or workers every replica trains together through the
    strategy (distributed.py); only the chief prints and keeps files."""
    keras.utils.set_random_seed(config.seed)
    threads = distributed.set_threads(config.threads)
    process = distributed.start(config.device)
    mixed_precision(config.precision)
    if dry_run:
        return fit(config, process, threads, dry_run=True)
    # One run at a time in run_dir: the lock goes with its holder, even killed.
    try:
        with (
            run_lock.held(Path(config.run_dir), take=process.main),
            distributed.own_folder(Path(config.run_dir), process) as folder,
        ):
{%- if cookiecutter.tracking %}
            system = {"framework": f"tensorflow {tf.__version__}", "device": process.device}
            with tracking.run(config, fresh, system, main=process.main):
                return fit(config, process, threads, fresh, folder=folder)
{%- else %}
            return fit(config, process, threads, fresh, folder=folder)
{%- endif %}
    except Stopped as stopped:
        if not process.main:  # one line says it, the chief's
            raise SystemExit(stopped.status) from None
        raise


def announce(
    config: Config, process: distributed.Process, images: int, threads: int, progress: Progress
) -> None:
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    process.print(
        f"Training on {process.device} ({threads or os.cpu_count()} CPU thread(s)), "
        f"{images} images, {epochs}."
    )
    if process.strategy.num_replicas_in_sync > 1:
        process.print(
            f"{process.strategy.num_replicas_in_sync} replicas, "
            f"{config.batch_size} images per batch in all"
        )
    if progress.saved:
        process.print(f"resuming from {progress.saved}")


def report(
    config: Config,
    process: distributed.Process,
    splits: dict,
    folder: Path,
    progress: Progress,
    threads: int,
) -> dict:
    """Evaluate the best checkpoint on the test split; the chief writes metrics.json."""
    best_model, _ = load_checkpoint(folder / CHECKPOINT)
    test_data = make_dataset(splits["test"], 256, shuffle=False, seed=config.seed)
    test = {f"test_{name}": value for name, value in evaluate(best_model, test_data).items()}
    epochs_run = len(progress.history)
    metrics = {
        **test,
        "best_val_accuracy": progress.best_accuracy,
        "epochs": config.epochs,
        "train_samples_per_second": epochs_run
        * len(splits["train"])
        / max(progress.train_seconds, 1e-9),
        "device": process.device,
        "replicas": process.strategy.num_replicas_in_sync,
        "threads": threads or os.cpu_count(),
        "resumed_from": progress.resumed_from,
        "history": progress.history,
    }
    run_dir = Path(config.run_dir)
    if process.main:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        checkpoint.finish(run_dir)
    process.print(
        f"{figures(test)} (best checkpoint: {run_dir / CHECKPOINT}, "
        f"metrics: {run_dir / 'metrics.json'})"
    )
    return metrics
{%- if cookiecutter.tracking or cookiecutter.tuning %}


def epoch_finished(record: dict[str, float]) -> None:
    for listener in EPOCH_LISTENERS:
        listener(record)
{%- endif %}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the digits classifier.")
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--device", help="override the config's device (auto, cpu, gpu)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting, e.g. --set learning_rate=0.01",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run one training and one validation batch, write nothing",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start over, discarding the saved state of an interrupted run",
    )
    return parser.parse_args(argv)


def settings(args: argparse.Namespace) -> Config:
    """The config file with the command line's overrides applied."""
    overrides = dict(parse_override(item) for item in args.set)
    for name in ("epochs", "seed", "device"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return load_config(args.config, overrides)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        train(settings(args), dry_run=args.dry_run, fresh=args.fresh)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a path the config names is unusable, or its disk is full
        print(
            f"error: {error.filename or 'run_dir'}: {error.strerror or error}. Check the "
            "paths in the config (data, run_dir) and the free space on their disk.",
            file=sys.stderr,
        )
        return 2
    except Stopped as stopped:  # a stop signal, while training: saved
        print(stopped, file=sys.stderr)
        return stopped.status
    except KeyboardInterrupt:  # Ctrl-C before training started
        print("interrupted: nothing was saved.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
