"""Train the model: python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: settings, data, model, optimizer, then Keras ``fit`` with
validation each epoch and the best checkpoint kept, and a final test evaluation.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import keras
import tensorflow as tf

from .config import Config, load_config, parse_override
from .data import load_splits, make_dataset, num_classes
from .model import build_model

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.keras"


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
    return parser.parse_args(argv)


def settings(args: argparse.Namespace) -> Config:
    """The config file with the command line's overrides applied."""
    overrides = dict(parse_override(item) for item in args.set)
    for name in ("epochs", "seed", "device"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return load_config(args.config, overrides)


def choose_device(name: str) -> str:
    """``auto`` lets TensorFlow place work on a GPU if it sees one; ``cpu`` hides GPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if name == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return "cpu"
    if name not in ("auto", "gpu"):
        raise ValueError(f"Device '{name}' is unknown; use 'auto', 'cpu' or 'gpu'.")
    if name == "gpu" and not gpus:
        raise ValueError("No GPU is visible to TensorFlow here; use 'auto' or 'cpu'.")
    return f"gpu ({gpus[0].name})" if gpus else "cpu"


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


def save_settings(path: Path, config: Config, classes: int, image_size: int) -> None:
    """Beside the checkpoint, the settings that made it, so that it describes itself."""
    path.write_text(json.dumps({"config": asdict(config), "num_classes": classes,
                                "image_size": image_size}, indent=2) + "\n")


def load_checkpoint(path: Path) -> tuple[keras.Model, dict]:
    """The trained Keras model and the settings saved beside it."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    return keras.models.load_model(path), json.loads(path.with_suffix(".json").read_text())


def train(config: Config, dry_run: bool = False) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split."""
    keras.utils.set_random_seed(config.seed)
    threads = set_threads(config.threads)
    device = choose_device(config.device)
    splits = load_splits(config.data)
    classes, image_size = num_classes(splits), splits["train"].images.shape[1]
    train_data = make_dataset(splits["train"], config.batch_size, shuffle=True, seed=config.seed)
    val_data = make_dataset(splits["val"], 256, shuffle=False, seed=config.seed)
    test_data = make_dataset(splits["test"], 256, shuffle=False, seed=config.seed)

    model = build_model(classes, image_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=config.epochs * len(train_data))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    if dry_run:
        history = model.fit(train_data, epochs=1, steps_per_epoch=1, validation_data=val_data,
                            validation_steps=1, shuffle=False, verbose=0)
        loss, val_loss = history.history["loss"][0], history.history["val_loss"][0]
        print(f"dry run on {device}: train loss {loss:.4f}, val loss {val_loss:.4f}")
        return {"train_loss": loss, "val_loss": val_loss, "device": device}

    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / CHECKPOINT
    save_settings(checkpoint.with_suffix(".json"), config, classes, image_size)
    print(f"Training on {device} ({threads or os.cpu_count()} CPU thread(s)), "
          f"{len(splits['train'])} images, {config.epochs} epochs.")
    start = time.perf_counter()
    history = model.fit(
        # The pipeline shuffles itself (seeded); Keras's own shuffle would be ignored.
        train_data, epochs=config.epochs, validation_data=val_data, shuffle=False,
        verbose=1 if sys.stdout.isatty() else 2,
        callbacks=[
            keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_accuracy",
                                            save_best_only=True),
            keras.callbacks.TensorBoard(run_dir / "tensorboard"),
        ])
    train_seconds = time.perf_counter() - start

    best_model, _ = load_checkpoint(checkpoint)
    best_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    test_loss, test_accuracy = best_model.evaluate(test_data, verbose=0)
    epochs = [{"epoch": index + 1,
               **{name: values[index] for name, values in history.history.items()}}
              for index in range(len(history.history["loss"]))]
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_val_accuracy": max(history.history["val_accuracy"]), "epochs": config.epochs,
               "train_samples_per_second": config.epochs * len(splits["train"]) / train_seconds,
               "device": device, "history": epochs}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"test accuracy {test_accuracy:.4f} (best checkpoint: {checkpoint}, "
          f"metrics: {run_dir / 'metrics.json'})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        train(settings(args), dry_run=args.dry_run)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a path the config names is unusable, or its disk is full
        print(f"error: {error.filename or 'run_dir'}: {error.strerror or error}. Check the "
              "paths in the config (data, run_dir) and the free space on their disk.",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
