"""Train the model: python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: settings, data, model, optimizer, then one loop of
train-an-epoch / validate / keep-the-best, and a final test evaluation.
The same command continues an interrupted run (checkpoint.py), and runs unchanged
as one worker of several with TF_CONFIG set (distributed.py).
"""

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

from . import checkpoint, distributed, run_lock{{ ", tracking" if cookiecutter.tracking else "" }}
from .backbone import backbone_of
from .config import Config, load_config, parse_override
from .data import Split, augments, load_data, make_dataset, num_classes
from .model import build_model
from .progress import Progress, explain_interrupt
from .quiet import keras, quiet_iter, tf

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
    return checkpoint.load_best(path)


def build(classes: int, shape: tuple[int, ...], config: Config,
          steps_per_epoch: int) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model and its optimizer (call inside the strategy's scope)."""
    model = build_model(config.model, classes, shape[1], shape[3], config.weights)
    optimizer = keras.optimizers.AdamW(learning_rate_schedule(model, config, steps_per_epoch),
                                       weight_decay=config.weight_decay)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    # Its state for every weight, made now, while all are trainable: a frozen backbone's
    # weights get theirs too, ready for fine-tuning and for a resumed run's checkpoint.
    optimizer.build(model.trainable_variables)
    return model, optimizer


def learning_rate_schedule(model: keras.Model, config: Config,
                           steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Cosine decay; a pretrained backbone fine-tunes at a tenth of the new head's rate."""
    if backbone_of(model) is not None:
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [config.head_epochs * steps_per_epoch], [config.learning_rate,
                                                     config.learning_rate / 10])
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=config.epochs * steps_per_epoch)


def train_steps(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                strategy: tf.distribute.Strategy, config: Config,
                say: Callable[[str], None]) -> Callable[[int], Callable]:
    """The train step of each epoch. A pretrained backbone is frozen for the first head_epochs
    (only the new head learns; a frozen BatchNorm runs in inference mode, as Keras'
    transfer-learning guide wants), then fine-tuned with it: each phase traces its own step
    for its trainable weights. The phase follows the epoch alone, so a resumed run goes on in
    the phase it stopped in."""
    backbone = backbone_of(model)
    steps: dict[bool, Callable] = {}

    def for_epoch(epoch: int) -> Callable:
        frozen = backbone is not None and epoch <= config.head_epochs
        if backbone is not None:
            backbone.trainable = not frozen
        if frozen not in steps:
            steps[frozen] = make_train_step(model, optimizer, strategy, config.compile)
            if backbone is not None:
                say(phase_message(epoch, frozen, config))
        return steps[frozen]

    return for_epoch


def phase_message(epoch: int, frozen: bool, config: Config) -> str:
    if frozen:
        return (f"epoch {epoch}: backbone frozen, only the new head trains "
                f"(head_epochs: {config.head_epochs})")
    return f"epoch {epoch}: fine-tuning the backbone too, at a lower learning rate"


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                    strategy: tf.distribute.Strategy, jit_compile: bool) -> Callable:
    """One optimizer step on a batch the strategy has split among its replicas (every GPU of
    every worker); returns the batch's summed loss and its number of images."""

    def replica_step(pixels: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            logits = tf.cast(model(pixels, training=True), tf.float32)
            losses = keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                                  from_logits=True)
            # The mean over the whole batch, across replicas: their gradients are summed.
            loss = optimizer.scale_loss(tf.nn.compute_average_loss(losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return tf.reduce_sum(losses), tf.cast(tf.size(losses), tf.float32)

    @tf.function(jit_compile=jit_compile or None)
    def step(batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        total, count = strategy.run(replica_step, args=batch)
        return (strategy.reduce("SUM", total, axis=None),
                strategy.reduce("SUM", count, axis=None))

    return step


def train_one_epoch(step: Callable, batches: Iterable, max_batches: int | None = None,
                    step_done: Callable[[float, float], None] | None = None) -> float:
    """One pass over the training data; returns the mean loss. ``step_done`` is called after
    each step with the batch's summed loss and its number of images."""
    total_loss, seen = 0.0, 0.0
    for number, batch in enumerate(batches):
        if max_batches is not None and number >= max_batches:
            break
        loss, count = (float(value) for value in step(batch))
        total_loss, seen = total_loss + loss, seen + count
        if step_done is not None:
            step_done(loss, count)
    return total_loss / max(seen, 1)


@tf.function
def logits_of(model: keras.Model, pixels: tf.Tensor) -> tf.Tensor:
    return tf.cast(model(pixels, training=False), tf.float32)


def evaluate(model: keras.Model, batches: Iterable,
             max_batches: int | None = None) -> tuple[float, float]:
    """Mean loss and accuracy (every worker evaluates it all: its weights are the same)."""
    total_loss, correct, seen = 0.0, 0.0, 0
    for number, (pixels, labels) in enumerate(batches):
        if max_batches is not None and number >= max_batches:
            break
        logits = logits_of(model, pixels)
        total_loss += float(tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True)))
        correct += float(tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == tf.cast(
            labels, tf.int64), tf.float32)))
        seen += len(labels)
    return total_loss / seen, correct / seen


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


def train(config: Config, dry_run: bool = False, fresh: bool = False) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split.

    With several GPUs or workers every replica trains together through the strategy
    (distributed.py); only the chief prints and keeps files.
    """
    keras.utils.set_random_seed(config.seed)
    threads = set_threads(config.threads)
    process = distributed.start(config.device)
    distributed.mixed_precision(config.precision)
    with run_lock.held(Path(config.run_dir), take=process.main and not dry_run):
        splits = load_data(config, cache=not dry_run)
        classes, shape = num_classes(splits), splits["train"].images.shape
        steps_per_epoch = len(make_dataset(splits["train"], config.batch_size, False, config.seed))
        with process.strategy.scope():
            model, optimizer = build(classes, shape, config, steps_per_epoch)
        steps = train_steps(model, optimizer, process.strategy, config, process.print)
        if dry_run:
            batches = epoch_batches(splits["train"], config, 1, process.strategy)
            loss = train_one_epoch(steps(1), batches, max_batches=1)
            val_loss, _ = evaluate(model, make_dataset(splits["val"], 256, False, 0), max_batches=1)
            process.print(f"dry run on {process.device}: train loss {loss:.4f}, "
                          f"val loss {val_loss:.4f}")
            return {"train_loss": loss, "val_loss": val_loss, "device": process.device}
        state = checkpoint.ResumeState(model, optimizer)
        with distributed.own_folder(Path(config.run_dir), process) as folder:
{%- if cookiecutter.tracking %}
            system = {"framework": f"tensorflow {tf.__version__}", "device": process.device}
            with tracking.run(config, fresh, system, main=process.main):
                return fit(model, steps, state, config, process, fresh, splits, folder, threads)
{%- else %}
            return fit(model, steps, state, config, process, fresh, splits, folder, threads)
{%- endif %}


def fit(model: keras.Model, steps: Callable[[int], Callable], state: checkpoint.ResumeState,
        config: Config, process: distributed.Process, fresh: bool, splits: dict, folder: Path,
        threads: int) -> dict:
    """The epochs still to run; ``folder`` is run_dir for the chief, a temporary one else."""
    run_dir = Path(config.run_dir)
    if fresh and process.main:
        checkpoint.finish(run_dir)  # forget the interrupted run
    progress = Progress() if fresh else state.restore(run_dir, config)
    saver = state.saver(folder, config)
    save_settings((folder / CHECKPOINT).with_suffix(".json"), config,
                  num_classes(splits), splits["train"].images.shape)
    val_data = make_dataset(splits["val"], 256, shuffle=False, seed=config.seed)
    writer = tf.summary.create_file_writer(str(folder / "tensorboard"))
    announce(config, process, len(splits["train"]), threads, progress)
    # Every worker saves (saving is collective); the others' copies go to a temporary folder.
    save_state = partial(state.save, saver, progress)
    counted = progress.counter(config.checkpoint_every_steps, save_state)
    with explain_interrupt(progress, speak=process.main), ctrl_c_between_steps() as stop_if_asked:

        def step_done(loss: float, count: float) -> None:
            counted(loss, count)
            stop_if_asked()

        for epoch in range(progress.next_epoch, config.epochs + 1):
            batches = epoch_batches(splits["train"], config, epoch, process.strategy,
                                    skip=progress.step)
            start = time.perf_counter()
            train_one_epoch(steps(epoch), batches, step_done=step_done)
            progress.train_seconds += time.perf_counter() - start
            loss = progress.epoch_loss  # a resumed epoch's steps before the stop too
            val_loss, val_accuracy = evaluate(model, val_data)
            best = progress.add(epoch, {"train_loss": loss, "val_loss": val_loss,
                                        "val_accuracy": val_accuracy})
            with writer.as_default():
                for name in ("train_loss", "val_loss", "val_accuracy"):
                    tf.summary.scalar(name, progress.history[-1][name], epoch)
            if best:
                checkpoint.save(model, folder / CHECKPOINT)
            save_state()
{%- if cookiecutter.tracking or cookiecutter.tuning %}
            if process.main:
                epoch_finished(progress.history[-1])
{%- endif %}
            process.print(f"epoch {epoch:>3}/{config.epochs}  train loss {loss:.4f}  "
                          f"val loss {val_loss:.4f}  val acc {val_accuracy:.4f}"
                          f"{'  (best, saved)' if best else ''}")
            stop_if_asked()
    writer.close()
    return report(config, process, splits, folder, progress)


@contextmanager
def ctrl_c_between_steps() -> Iterator[Callable[[], None]]:
    """Ctrl-C takes effect between two steps, never inside TensorFlow's runtime (interrupted
    there, its input threads can crash the process); yields the check to call after a step."""
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))

    def stop_if_asked() -> None:
        if pressed:
            raise KeyboardInterrupt

    try:
        yield stop_if_asked
    finally:
        signal.signal(signal.SIGINT, previous)


def announce(config: Config, process: distributed.Process, images: int, threads: int,
             progress: Progress) -> None:
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    process.print(f"Training on {process.device} ({threads or os.cpu_count()} CPU thread(s)), "
                  f"{images} images, {epochs}.")
    if process.strategy.num_replicas_in_sync > 1:
        process.print(f"{process.strategy.num_replicas_in_sync} replicas, "
                      f"{config.batch_size} images per batch in all")
    if progress.saved:
        process.print(f"resuming from {progress.saved}")


def report(config: Config, process: distributed.Process, splits: dict, folder: Path,
           progress: Progress) -> dict:
    """Evaluate the best checkpoint on the test split; the chief writes metrics.json."""
    best_model, _ = load_checkpoint(folder / CHECKPOINT)
    test_data = make_dataset(splits["test"], 256, shuffle=False, seed=config.seed)
    test_loss, test_accuracy = evaluate(best_model, test_data)
    epochs_run = len(progress.history)
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_val_accuracy": progress.best_accuracy, "epochs": config.epochs,
               "train_samples_per_second":
                   epochs_run * len(splits["train"]) / max(progress.train_seconds, 1e-9),
               "device": process.device, "replicas": process.strategy.num_replicas_in_sync,
               "history": progress.history}
    run_dir = Path(config.run_dir)
    if process.main:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        checkpoint.finish(run_dir)
    process.print(f"test accuracy {test_accuracy:.4f} (best checkpoint: {run_dir / CHECKPOINT}, "
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
