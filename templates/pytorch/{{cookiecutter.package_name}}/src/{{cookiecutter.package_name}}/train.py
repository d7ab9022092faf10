"""Train the model: python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: settings, data, model, optimizer, then one loop of
train-an-epoch / validate / keep-the-best, and a final test evaluation.
The same command continues an interrupted run (checkpoint.py), and runs unchanged
as one of several processes under torchrun (distributed.py).
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from . import checkpoint, distributed, run_lock{{ ", tracking" if cookiecutter.tracking else "" }}
from .backbone import MobileNetClassifier
from .config import Config, load_config, parse_override
from .data import augments, load_data, num_classes
from .distributed import ShardedBatches
from .model import build_model
from .progress import Progress, explain_interrupt
from .quiet import tame_known_noise

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.ckpt"
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
    parser.add_argument("--device", help="override the config's device (auto, cpu, cuda, mps)")
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
    torch.set_num_threads(count)
    return count


def train_one_epoch(model: nn.Module, batches: Iterable, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device,
                    max_batches: int | None = None, precision: distributed.Precision | None = None,
                    show_progress: bool = True,
                    step_done: Callable[[float, float], None] | None = None) -> float:
    """One pass over the training data; returns the mean loss. ``step_done`` is called after
    each step with the batch's summed loss and its number of images."""
    autocast, scaler = precision or distributed.mixed_precision("float32", device)
    model.train()
    total_loss, seen = 0.0, 0
    bar = tqdm(batches, desc="train", leave=False, disable=None if show_progress else True)
    for step, (pixels, labels) in enumerate(bar):
        if max_batches is not None and step >= max_batches:
            break
        pixels, labels = pixels.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = nn.functional.cross_entropy(model(pixels), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
        if step_done is not None:
            step_done(loss.item() * len(labels), len(labels))
    return total_loss / max(seen, 1)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, device: torch.device,
             max_batches: int | None = None,
             process: distributed.Process | None = None) -> tuple[float, float]:
    """Mean loss and accuracy over every process's batches."""
    model.eval()
    total_loss, correct, seen = 0.0, 0.0, 0.0
    for step, (pixels, labels) in enumerate(batches):
        if max_batches is not None and step >= max_batches:
            break
        pixels, labels = pixels.to(device), labels.to(device)
        logits = model(pixels)
        total_loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    if process is not None:
        total_loss, correct, seen = distributed.total([total_loss, correct, seen], process)
    return total_loss / seen, correct / seen


def save_best(path: Path, model: nn.Module, config: Config, classes: int,
              shape: tuple[int, int], epoch: int, val_accuracy: float) -> None:
    """A checkpoint that describes itself: weights plus the settings that made them."""
    checkpoint.save({"model_state": model.state_dict(), "config": asdict(config),
                     "num_classes": classes, "image_size": shape[0], "channels": shape[1],
                     "epoch": epoch, "val_accuracy": val_accuracy}, path)


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the model from a checkpoint; returns it (in eval mode) and the checkpoint."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    saved = checkpoint.load_best(path)
    # No pretrained weights to read: the checkpoint holds every weight. (A checkpoint from
    # before the model setting existed holds the small CNN.)
    model = build_model(saved["config"].get("model", "small_cnn"), saved["num_classes"],
                        saved["image_size"], saved["channels"])
    model.load_state_dict(saved["model_state"])
    return model.eval(), saved


def parameter_groups(model: nn.Module, learning_rate: float) -> list[dict]:
    """A pretrained backbone fine-tunes at a tenth of the new head's learning rate."""
    if isinstance(model, MobileNetClassifier):
        return [{"params": model.backbone.parameters(), "lr": learning_rate / 10},
                {"params": model.classifier.parameters(), "lr": learning_rate}]
    return [{"params": model.parameters(), "lr": learning_rate}]


def freeze_for(epoch: int, model: nn.Module, config: Config,
               say: Callable[[str], None]) -> None:
    """A pretrained backbone is frozen for the first head_epochs (only the new head learns;
    BatchNorm keeps its statistics), then fine-tuned with it. The phase follows the epoch
    alone, so a resumed run goes on in the phase it stopped in."""
    frozen = epoch <= config.head_epochs
    if isinstance(model, MobileNetClassifier) and model.frozen is not frozen:
        model.freeze_backbone(frozen)
        say(phase_message(epoch, frozen, config))


def phase_message(epoch: int, frozen: bool, config: Config) -> str:
    if frozen:
        return (f"epoch {epoch}: backbone frozen, only the new head trains "
                f"(head_epochs: {config.head_epochs})")
    return f"epoch {epoch}: fine-tuning the backbone too, at a lower learning rate"


def dry_run_step(config: Config, process: distributed.Process) -> dict:
    """One training and one validation batch, writing nothing."""
    torch.manual_seed(config.seed)
    splits = load_data(config, cache=False)
    _, size, _, channels = splits["train"].images.shape
    model = build_model(config.model, num_classes(splits), size, channels,
                        config.weights).to(process.device)
    freeze_for(1, model, config, print)
    optimizer = torch.optim.AdamW(parameter_groups(model, config.learning_rate))
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    batches = ShardedBatches(splits["train"], config.batch_size, True, config.seed, process,
                             augments(config))
    loss = train_one_epoch(model, batches, optimizer, scheduler, process.device, 1,
                           distributed.mixed_precision(config.precision, process.device))
    val_loss, _ = evaluate(model, ShardedBatches(splits["val"], 256, False, 0, process),
                           process.device, 1)
    print(f"dry run on {process.device}: train loss {loss:.4f}, val loss {val_loss:.4f}")
    return {"train_loss": loss, "val_loss": val_loss, "device": str(process.device)}


def train(config: Config, dry_run: bool = False, fresh: bool = False) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split.

    Under torchrun every process runs this; rank 0 alone prints and writes.
    """
    process = distributed.start(config.device)
    try:
        if dry_run:
            return dry_run_step(config, process)
        with run_lock.held(Path(config.run_dir), take=process.main):
{%- if cookiecutter.tracking %}
            system = {"framework": f"torch {torch.__version__}", "device": str(process.device)}
            with tracking.run(config, fresh, system, main=process.main):
                return fit(config, process, fresh)
{%- else %}
            return fit(config, process, fresh)
{%- endif %}
    finally:
        distributed.stop()


def fit(config: Config, process: distributed.Process, fresh: bool) -> dict:
    torch.manual_seed(config.seed)
    threads = set_threads(config.threads)
    splits = load_data(config)
    classes, (_, image_size, _, channels) = num_classes(splits), splits["train"].images.shape
    train_batches = ShardedBatches(splits["train"], config.batch_size, True, config.seed, process,
                                   augments(config))
    val_batches = ShardedBatches(splits["val"], 256, False, config.seed, process)

    model = build_model(config.model, classes, image_size, channels,
                        config.weights).to(process.device)
    optimizer = torch.optim.AdamW(parameter_groups(model, config.learning_rate),
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=config.epochs * len(train_batches))
    precision = distributed.mixed_precision(config.precision, process.device)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler,
             "scaler": precision[1]}
    run_dir = Path(config.run_dir)
    if fresh and process.main:
        checkpoint.finish(run_dir)  # forget the interrupted run
    distributed.barrier(process)
    progress = checkpoint.resume(run_dir, config, parts)
    # Wrapped while every weight is trainable; DDP then skips a frozen backbone's weights.
    network = distributed.wrap(model, process,
                               some_frozen=isinstance(model, MobileNetClassifier))
    if config.compile:
        network = torch.compile(network)
    writer = open_writer(run_dir) if process.main else None
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    process.print(f"Training on {process.device} ({threads} CPU thread(s)), "
                  f"{len(splits['train'])} images, {epochs}.")
    if process.world_size > 1:
        process.print(f"{process.world_size} processes, {config.batch_size} images per batch each")
    if progress.saved:
        process.print(f"resuming from {progress.saved}")
    save_state = partial(checkpoint.save_resume_state, run_dir, config, parts, progress)
    step_done = progress.counter(config.checkpoint_every_steps,
                                 save_state if process.main else None)
    with explain_interrupt(progress, speak=process.main):
        for epoch in range(progress.next_epoch, config.epochs + 1):
            train_batches.set_epoch(epoch, skip=progress.step)
            freeze_for(epoch, model, config, process.print)
            start = time.perf_counter()
            train_one_epoch(network, train_batches, optimizer, scheduler, process.device,
                            precision=precision, show_progress=process.main, step_done=step_done)
            progress.train_seconds += time.perf_counter() - start
            # Each process saw its own share (and a resumed epoch, its steps before the stop).
            loss = distributed.average(progress.epoch_loss, process)
            val_loss, val_accuracy = evaluate(model, val_batches, process.device, process=process)
            best = progress.add(epoch, {"train_loss": loss, "val_loss": val_loss,
                                        "val_accuracy": val_accuracy})
            if writer:
                for name in ("train_loss", "val_loss", "val_accuracy"):
                    writer.add_scalar(name, progress.history[-1][name], epoch)
                if best:
                    save_best(run_dir / CHECKPOINT, model, config, classes,
                              (image_size, channels), epoch, val_accuracy)
                save_state()
{%- if cookiecutter.tracking or cookiecutter.tuning %}
                epoch_finished(progress.history[-1])
{%- endif %}
            process.print(f"epoch {epoch:>3}/{config.epochs}  train loss {loss:.4f}  "
                          f"val loss {val_loss:.4f}  val acc {val_accuracy:.4f}"
                          f"{'  (best, saved)' if best else ''}")
    if writer:
        writer.close()
    return report(config, process, splits, progress)


def open_writer(run_dir: Path):
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to load

    run_dir.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(run_dir / "tensorboard")


def report(config: Config, process: distributed.Process, splits: dict,
           progress: Progress) -> dict:
    """Evaluate the best checkpoint on the test split; rank 0 writes metrics.json."""
    run_dir = Path(config.run_dir)
    distributed.barrier(process)  # rank 0 has written the best checkpoint
    best_model, _ = load_checkpoint(run_dir / CHECKPOINT)
    test_batches = ShardedBatches(splits["test"], 256, False, config.seed, process)
    test_loss, test_accuracy = evaluate(best_model.to(process.device), test_batches,
                                        process.device, process=process)
    epochs_run = len(progress.history)
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_val_accuracy": progress.best_accuracy, "epochs": config.epochs,
               "train_samples_per_second":
                   epochs_run * len(splits["train"]) / max(progress.train_seconds, 1e-9),
               "device": str(process.device), "processes": process.world_size,
               "history": progress.history}
    if process.main:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        checkpoint.finish(run_dir)
    # Every process leaves the group together: gloo aborted a process (SIGABRT, "terminate
    # called without an active exception") whose peer had already left.
    distributed.barrier(process)
    process.print(f"test accuracy {test_accuracy:.4f} (best checkpoint: {run_dir / CHECKPOINT}, "
                  f"metrics: {run_dir / 'metrics.json'})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    tame_known_noise()
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
