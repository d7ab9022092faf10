"""Train the model.

python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: ``fit`` takes the settings, the data, the model and its optimizer, then
runs one loop of train-an-epoch / validate / keep-the-best, and a final test evaluation.
The same command continues an interrupted run (checkpoint.py), and runs unchanged
as one of several processes under torchrun (distributed.py).
"""

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from . import checkpoint, distributed, run_lock{{ ", tracking" if cookiecutter.tracking else "" }}
from .backbone import MobileNetClassifier, freeze_for
from .checkpoint import CHECKPOINT, load_checkpoint, save_best
from .config import Config, load_config, parse_override
from .data import Batches, augments, load_data, num_classes
from .model import build_model
from .precision import Precision, mixed_precision
from .progress import Progress, Stopped, figures, stop_signals
from .quiet import tame_known_noise

{%- if cookiecutter.tracking or cookiecutter.tuning %}
{%- set uses = (["tracking.py logs them"] if cookiecutter.tracking else []) + (["tune.py prunes trials"] if cookiecutter.tuning else []) %}

# Called with each finished epoch's figures ({{ uses | join(", ") }}).
EPOCH_LISTENERS: list[Callable[[dict[str, float]], None]] = [
{{- "tracking.log_epoch" if cookiecutter.tracking else "" }}]
{%- endif %}


def fit(
    config: Config, process: distributed.Process, fresh: bool = False, dry_run: bool = False
) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split."""
    torch.manual_seed(config.seed)
    threads = distributed.set_threads(config.threads)
    splits = load_data(config, cache=not dry_run)
    classes, (_, image_size, _, channels) = num_classes(splits), splits["train"].images.shape
    train_batches = Batches(
        splits["train"], config.batch_size, True, config.seed, process, augments(config)
    )
    val_batches = Batches(splits["val"], 256, False, config.seed, process)
    model = build_model(config.model, classes, image_size, channels, config.weights).to(
        process.device
    )
    optimizer, scheduler = make_optimizer(model, config, len(train_batches))
    precision = mixed_precision(config.precision, process.device)
    if dry_run:
        return dry_run_step(
            model, (optimizer, scheduler, precision), (train_batches, val_batches), config, process
        )

    run_dir = Path(config.run_dir)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": precision[1]}
    progress = checkpoint.resume(run_dir, config, parts, fresh, process)
    # Wrapped while every weight is trainable; DDP then skips a frozen backbone's weights.
    network = distributed.wrap(model, process, some_frozen=isinstance(model, MobileNetClassifier))
    if config.compile:
        network = torch.compile(network)
    writer = open_writer(run_dir) if process.main else None
    announce(config, process, len(splits["train"]), threads, progress)
    # Every process takes part (it hands rank 0 its share of the epoch's loss); rank 0 writes.
    save_state = partial(checkpoint.save_resume_state, run_dir, config, parts, progress, process)
    with stop_signals(
        partial(distributed.agree, process=process), every=distributed.stop_check_every(process)
    ) as stop:
        step_done = progress.counter(config.checkpoint_every_steps, save_state, stop)
        for epoch in range(progress.next_epoch, config.epochs + 1):
            train_batches.set_epoch(epoch, skip=progress.step)
            freeze_for(epoch, model, config.head_epochs, process.print)
            start = time.perf_counter()
            train_one_epoch(
                network,
                train_batches,
                optimizer,
                scheduler,
                precision,
                process.device,
                step_done,
                show_progress=process.main,
            )
            progress.train_seconds += time.perf_counter() - start
            # Each process saw its own share (and a resumed epoch, its steps before the stop).
            record = {"train_loss": distributed.average(progress.epoch_loss, process)}
            val = evaluate(model, val_batches, process.device, process)
            record.update({f"val_{name}": value for name, value in val.items()})
            best = progress.add(epoch, record)
            if writer:
                for name, value in record.items():
                    writer.add_scalar(name, value, epoch)
                if best:
                    save_best(
                        run_dir / CHECKPOINT,
                        model,
                        config,
                        classes,
                        (image_size, channels),
                        epoch,
                        val["accuracy"],
                    )
            save_state()
{%- if cookiecutter.tracking or cookiecutter.tuning %}
            if writer:
                epoch_finished(progress.history[-1])
{%- endif %}
            process.print(
                f"epoch {epoch:>3}/{config.epochs}  {figures(record)}"
                f"{'  (best, saved)' if best else ''}"
            )
            progress.stop_if_asked(stop, None)  # just saved
        if writer:
            writer.close()
        # A signal from here on is too late to stop anything: the run finishes.
        return report(config, process, splits, progress, threads)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    precision: Precision,
    device: torch.device,
    step_done: Callable[[torch.Tensor, int], None],
    max_batches: int | None = None,
    show_progress: bool = True,
) -> None:
    """One pass over the training data. ``step_done`` is called after each step with the
    batch's summed loss (a tensor on the device: reading it would wait for the device) and
    its number of images."""
    autocast, scaler = precision
    model.train()
    bar = tqdm(batches, desc="train", leave=False, disable=None if show_progress else True)
    for step, (pixels, labels) in enumerate(bar):
        if max_batches is not None and step >= max_batches:
            break
        pixels, labels = pixels.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast:
            loss = nn.functional.cross_entropy(model(pixels), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step_done(loss.detach() * len(labels), len(labels))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable,
    device: torch.device,
    process: distributed.Process | None = None,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Each metric's mean over every process's batches. A metric is one more entry below,
    summed over a batch's images; it reaches the epoch line, TensorBoard and metrics.json."""
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    images = 0
    for step, (pixels, labels) in enumerate(batches):
        if max_batches is not None and step >= max_batches:
            break
        pixels, labels = pixels.to(device), labels.to(device)
        logits = model(pixels).float()
        batch = {
            "loss": nn.functional.cross_entropy(logits, labels, reduction="sum"),
            "accuracy": (logits.argmax(dim=1) == labels).sum(),
        }
        for name, value in batch.items():
            sums[name] = sums.get(name, 0) + value.double()
        images += len(labels)
    totals = distributed.total(
        torch.stack(
            [*sums.values(), torch.tensor(float(images), dtype=torch.float64, device=device)]
        ),
        process,
    )
    return {name: value / totals[-1] for name, value in zip(sums, totals, strict=False)}


def make_optimizer(
    model: nn.Module, config: Config, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with a one-cycle schedule (stepped after every batch); a pretrained backbone
    fine-tunes at a tenth of the new head's learning rate."""
    if isinstance(model, MobileNetClassifier):
        groups = [
            {"params": model.backbone.parameters(), "lr": config.learning_rate / 10},
            {"params": model.classifier.parameters(), "lr": config.learning_rate},
        ]
    else:
        groups = [{"params": model.parameters(), "lr": config.learning_rate}]
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=config.epochs * steps_per_epoch,
    )
    return optimizer, scheduler


def dry_run_step(
    model: nn.Module,
    optimization: tuple,
    batches: tuple[Batches, Batches],
    config: Config,
    process: distributed.Process,
) -> dict:
    """One training and one validation batch, as training takes them, writing nothing."""
    optimizer, scheduler, precision = optimization
    freeze_for(1, model, config.head_epochs, process.print)
    progress = Progress()
    train_one_epoch(
        model,
        batches[0],
        optimizer,
        scheduler,
        precision,
        process.device,
        progress.counter(0, None),
        max_batches=1,
    )
    val = evaluate(model, batches[1], process.device, process, max_batches=1)
    loss = distributed.average(progress.epoch_loss, process)
    process.print(f"dry run on {process.device}: train loss {loss:.4f}, val loss {val['loss']:.4f}")
    return {"train_loss": loss, "val_loss": val["loss"], "device": str(process.device)}


def train(config: Config, dry_run: bool = False, fresh: bool = False) -> dict:
    """Train (``fit``); under torchrun every process runs this, and rank 0 alone prints and
    writes."""
    process = distributed.start(config.device)
    try:
        if dry_run:
            return fit(config, process, dry_run=True)
        with run_lock.held(Path(config.run_dir), take=process.main):
{%- if cookiecutter.tracking %}
            system = {"framework": f"torch {torch.__version__}", "device": str(process.device)}
            with tracking.run(config, fresh, system, main=process.main):
                return fit(config, process, fresh)
{%- else %}
            return fit(config, process, fresh)
{%- endif %}
    except Stopped as stopped:
        distributed.barrier(process)  # rank 0 has saved: every process leaves together
        if not process.main:  # one line says it, rank 0's
            raise SystemExit(stopped.status) from None
        raise
    finally:
        distributed.stop()


def announce(
    config: Config, process: distributed.Process, images: int, threads: int, progress: Progress
) -> None:
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    process.print(
        f"Training on {process.device} ({threads} CPU thread(s)), {images} images, {epochs}."
    )
    if process.world_size > 1:
        process.print(f"{process.world_size} processes, {config.batch_size} images per batch each")
    if progress.saved:
        process.print(f"resuming from {progress.saved}")


def report(
    config: Config, process: distributed.Process, splits: dict, progress: Progress, threads: int
) -> dict:
    """Evaluate the best checkpoint on the test split; rank 0 writes metrics.json."""
    run_dir = Path(config.run_dir)
    distributed.barrier(process)  # rank 0 has written the best checkpoint
    best_model, _ = load_checkpoint(run_dir / CHECKPOINT)
    test_batches = Batches(splits["test"], 256, False, config.seed, process)
    test = evaluate(best_model.to(process.device), test_batches, process.device, process)
    epochs_run = len(progress.history)
    metrics = {
        **{f"test_{name}": value for name, value in test.items()},
        "best_val_accuracy": progress.best_accuracy,
        "epochs": config.epochs,
        "train_samples_per_second": epochs_run
        * len(splits["train"])
        / max(progress.train_seconds, 1e-9),
        "device": str(process.device),
        "processes": process.world_size,
        "threads": threads,
        "resumed_from": progress.resumed_from,
        "history": progress.history,
    }
    if process.main:
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        checkpoint.finish(run_dir)
    # Every process leaves the group together: gloo aborted a process (SIGABRT, "terminate
    # called without an active exception") whose peer had already left.
    distributed.barrier(process)
    process.print(
        f"{figures({f'test_{name}': value for name, value in test.items()})} "
        f"(best checkpoint: {run_dir / CHECKPOINT}, "
        f"metrics: {run_dir / 'metrics.json'})"
    )
    return metrics


def open_writer(run_dir: Path):
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to load

    run_dir.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(run_dir / "tensorboard")
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
    parser.add_argument("--device", help="override the config's device (auto, cpu, cuda, mps)")
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
    tame_known_noise()
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
