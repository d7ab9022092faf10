"""Train the model: python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: settings, data, model, optimizer, then Keras ``fit`` with
validation each epoch and the best checkpoint kept, and a final test evaluation.
The same command continues an interrupted run (checkpoint.py), and runs unchanged
as one worker of several with TF_CONFIG set (distributed.py).
"""

import argparse
import json
import os
import sys
import time
{%- if cookiecutter.tracking or cookiecutter.tuning %}
from collections.abc import Callable
{%- endif %}
from dataclasses import asdict
from pathlib import Path

import keras
import tensorflow as tf

from . import checkpoint, distributed{{ ", tracking" if cookiecutter.tracking else "" }}
from .config import Config, load_config, parse_override
from .data import augments, load_data, make_dataset, num_classes
from .model import build_model
from .progress import Progress, explain_interrupt

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.keras"
{%- if cookiecutter.tracking or cookiecutter.tuning %}
{%- set uses = (["tracking.py logs them"] if cookiecutter.tracking else []) + (["tune.py prunes trials"] if cookiecutter.tuning else []) %}
# Called with each finished epoch's figures ({{ uses | join(", ") }}).
EPOCH_LISTENERS: list[Callable[[dict[str, float]], None]] = [
{{- "tracking.log_epoch" if cookiecutter.tracking else "" }}]
{%- endif %}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the digits classifier.")
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--device", help="override the config's device (auto, cpu, gpu)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any setting, e.g. --set learning_rate=0.01")
    parser.add_argument("--dry-run", action="store_true",
                        help="run one training and one validation batch, write nothing")
    parser.add_argument("--fresh", action="store_true",
                        help="start over, discarding the saved state of an interrupted run")
    return parser.parse_args(argv)
{%- if cookiecutter.tracking or cookiecutter.tuning %}


def epoch_finished(record: dict[str, float]) -> None:
    for listener in EPOCH_LISTENERS:
        listener(record)
{%- endif %}


def settings(args: argparse.Namespace) -> Config:
    """The config file with the command line's overrides applied."""
    overrides = dict(parse_override(item) for item in args.set)
    for name in ("epochs", "seed", "device"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return load_config(args.config, overrides)


def set_threads(threads: int) -> int:
    """0 uses every core, fastest on a machine of one's own (1.5x one thread, measured on 2
    cores). Where other work keeps the cores busy, 1 is safer: threads that wait for a core
    made batch-4 latency 20x worse on a shared 2-core machine."""
    count = threads or os.cpu_count() or 1
    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current != count:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(count)
        except RuntimeError:  # TensorFlow fixes its thread pool once it has started
            print(f"note: TensorFlow is already running with {current or 'all'} CPU threads "
                  "in this process; keeping them.")
            return current
    return count


def save_settings(path: Path, config: Config, classes: int, shape: tuple[int, ...]) -> None:
    """Beside the checkpoint, the settings that made it, so that it describes itself."""
    path.write_text(json.dumps({"config": asdict(config), "num_classes": classes,
                                "image_size": shape[1], "channels": shape[3]}, indent=2) + "\n")


def load_checkpoint(path: Path) -> tuple[keras.Model, dict]:
    """The trained Keras model and the settings saved beside it."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    return keras.models.load_model(path), json.loads(path.with_suffix(".json").read_text())


def build(classes: int, shape: tuple[int, ...], config: Config,
          steps_per_epoch: int) -> keras.Model:
    """The model, compiled with its optimizer (call inside the strategy's scope)."""
    model = build_model(classes, shape[1], channels=shape[3])
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=config.epochs * steps_per_epoch)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True if config.compile else "auto")
    return model


def train(config: Config, dry_run: bool = False, fresh: bool = False) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split.

    Several GPUs train together through the strategy (distributed.py).
    """
    keras.utils.set_random_seed(config.seed)
    threads = set_threads(config.threads)
    process = distributed.start(config.device)
    distributed.mixed_precision(config.precision)
    splits = load_data(config, cache=not dry_run)
    classes, shape = num_classes(splits), splits["train"].images.shape
    train_data = make_dataset(splits["train"], config.batch_size, shuffle=True, seed=config.seed,
                              augmented=augments(config))
    val_data = make_dataset(splits["val"], 256, shuffle=False, seed=config.seed)
    with process.strategy.scope():
        model = build(classes, shape, config, len(train_data))
    if dry_run:
        history = model.fit(train_data, epochs=1, steps_per_epoch=1, validation_data=val_data,
                            validation_steps=1, shuffle=False, verbose=0)
        loss, val_loss = history.history["loss"][0], history.history["val_loss"][0]
        print(f"dry run on {process.device}: train loss {loss:.4f}, val loss {val_loss:.4f}")
        return {"train_loss": loss, "val_loss": val_loss, "device": process.device}
{%- if cookiecutter.tracking %}
    system = {"framework": f"tensorflow {tf.__version__}", "device": process.device}
    with tracking.run(config, fresh, system):
        return fit(model, config, process, fresh, splits, (train_data, val_data), threads)
{%- else %}
    return fit(model, config, process, fresh, splits, (train_data, val_data), threads)
{%- endif %}


def fit(model: keras.Model, config: Config, process: distributed.Process, fresh: bool,
        splits: dict, data: tuple[tf.data.Dataset, tf.data.Dataset], threads: int) -> dict:
    train_data, val_data = data
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        checkpoint.finish(run_dir)  # forget the interrupted run
    progress = checkpoint.resume(run_dir, config)
    save_settings((run_dir / CHECKPOINT).with_suffix(".json"), config,
                  num_classes(splits), splits["train"].images.shape)
    print(f"Training on {process.device} ({threads or os.cpu_count()} CPU thread(s)), "
          f"{len(splits['train'])} images, {config.epochs} epochs.")
    if process.strategy.num_replicas_in_sync > 1:
        print(f"{process.strategy.num_replicas_in_sync} replicas, "
              f"{config.batch_size} images per batch in all")
    callbacks = [*checkpoint.callbacks(run_dir, run_dir / CHECKPOINT, config, progress),
                 keras.callbacks.TensorBoard(run_dir / "tensorboard")
{%- if cookiecutter.tracking or cookiecutter.tuning %},
                 keras.callbacks.LambdaCallback(
                     on_epoch_end=lambda epoch, logs: epoch_finished(progress.history[-1]))
{%- endif %}]
    start = time.perf_counter()
    with explain_interrupt(progress):
        # The pipeline shuffles itself (seeded); Keras's own shuffle would be ignored.
        model.fit(train_data, epochs=config.epochs, validation_data=val_data, shuffle=False,
                  verbose=1 if sys.stdout.isatty() else 2, callbacks=callbacks)
    progress.train_seconds += time.perf_counter() - start
    return report(config, process, splits, progress)


def report(config: Config, process: distributed.Process, splits: dict,
           progress: Progress) -> dict:
    """Evaluate the best checkpoint on the test split; write metrics.json."""
    run_dir = Path(config.run_dir)
    best_model, _ = load_checkpoint(run_dir / CHECKPOINT)
    best_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    test_data = make_dataset(splits["test"], 256, shuffle=False, seed=config.seed)
    test_loss, test_accuracy = best_model.evaluate(test_data, verbose=0)
    epochs_run = len(progress.history)
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_val_accuracy": progress.best_accuracy, "epochs": config.epochs,
               "train_samples_per_second":
                   epochs_run * len(splits["train"]) / max(progress.train_seconds, 1e-9),
               "device": process.device, "replicas": process.strategy.num_replicas_in_sync,
               "history": progress.history}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    checkpoint.finish(run_dir)
    print(f"test accuracy {test_accuracy:.4f} (best checkpoint: {run_dir / CHECKPOINT}, "
          f"metrics: {run_dir / 'metrics.json'})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        train(settings(args), dry_run=args.dry_run, fresh=args.fresh)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a path the config names is unusable, or its disk is full
        print(f"error: {error.filename or 'run_dir'}: {error.strerror or error}. Check the "
              "paths in the config (data, run_dir) and the free space on their disk.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"interrupted: {interrupt or 'nothing was saved.'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
