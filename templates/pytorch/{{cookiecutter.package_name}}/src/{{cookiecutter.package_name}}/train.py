"""Train the model: python -m {{ cookiecutter.package_name }}.train [--config FILE] [--epochs N] [--dry-run]

Reads top to bottom: settings, data, model, optimizer, then one loop of
train-an-epoch / validate / keep-the-best, and a final test evaluation.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from .config import Config, load_config, parse_override
from .data import load_splits, make_loader, num_classes
from .model import DigitsCNN
from .quiet import tame_known_noise

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.ckpt"


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
    return parser.parse_args(argv)


def settings(args: argparse.Namespace) -> Config:
    """The config file with the command line's overrides applied."""
    overrides = dict(parse_override(item) for item in args.set)
    for name in ("epochs", "seed", "device"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return load_config(args.config, overrides)


def choose_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available.get(name.split(":")[0], False):
        raise ValueError(f"Device '{name}' is not available here; use 'auto' or 'cpu'.")
    return torch.device(name)


def set_threads(threads: int) -> int:
    """0 uses every core, fastest on a machine of one's own (1.5x one thread, measured on 2
    cores). Where other work keeps the cores busy, 1 is safer: threads that wait for a core
    made batch-4 latency 20x worse on a shared 2-core machine."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device,
                    max_batches: int | None = None) -> float:
    """One pass over the training data; returns the mean loss."""
    model.train()
    total_loss, seen = 0.0, 0
    for step, (pixels, labels) in enumerate(tqdm(loader, desc="train", leave=False, disable=None)):
        if max_batches is not None and step >= max_batches:
            break
        pixels, labels = pixels.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(pixels), labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
    return total_loss / seen


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device,
             max_batches: int | None = None) -> tuple[float, float]:
    """Mean loss and accuracy over a loader."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for step, (pixels, labels) in enumerate(loader):
        if max_batches is not None and step >= max_batches:
            break
        pixels, labels = pixels.to(device), labels.to(device)
        logits = model(pixels)
        total_loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return total_loss / seen, correct / seen


def save_checkpoint(path: Path, model: nn.Module, config: Config, classes: int,
                    image_size: int, epoch: int, val_accuracy: float) -> None:
    """A checkpoint that describes itself: weights plus the settings that made them."""
    torch.save({"model_state": model.state_dict(), "config": asdict(config),
                "num_classes": classes, "image_size": image_size,
                "epoch": epoch, "val_accuracy": val_accuracy}, path)


def load_checkpoint(path: Path) -> tuple[DigitsCNN, dict]:
    """Rebuild the model from a checkpoint; returns it (in eval mode) and the checkpoint."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitsCNN(checkpoint["num_classes"], checkpoint["image_size"])
    model.load_state_dict(checkpoint["model_state"])
    return model.eval(), checkpoint


def train(config: Config, dry_run: bool = False) -> dict:
    """Train, keep the best checkpoint by validation accuracy, evaluate it on the test split."""
    torch.manual_seed(config.seed)
    device = choose_device(config.device)
    threads = set_threads(config.threads)
    splits = load_splits(config.data)
    classes, image_size = num_classes(splits), splits["train"].images.shape[1]
    train_loader = make_loader(splits["train"], config.batch_size, shuffle=True, seed=config.seed)
    val_loader = make_loader(splits["val"], 256, shuffle=False, seed=config.seed)
    test_loader = make_loader(splits["test"], 256, shuffle=False, seed=config.seed)

    model = DigitsCNN(classes, image_size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * len(train_loader))
    limit = 1 if dry_run else None
    if dry_run:
        loss = train_one_epoch(model, train_loader, optimizer, scheduler, device, limit)
        val_loss, val_accuracy = evaluate(model, val_loader, device, limit)
        print(f"dry run on {device}: train loss {loss:.4f}, val loss {val_loss:.4f}")
        return {"train_loss": loss, "val_loss": val_loss, "device": str(device)}

    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to load

    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(run_dir / "tensorboard")
    print(f"Training on {device} ({threads} CPU thread(s)), {len(splits['train'])} images, "
          f"{config.epochs} epochs.")
    best_accuracy, history, train_seconds = -1.0, [], 0.0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        loss = train_one_epoch(model, train_loader, optimizer, scheduler, device)
        train_seconds += time.perf_counter() - start
        val_loss, val_accuracy = evaluate(model, val_loader, device)
        history.append({"epoch": epoch, "train_loss": loss, "val_loss": val_loss,
                        "val_accuracy": val_accuracy})
        for name, value in history[-1].items():
            if name != "epoch":
                writer.add_scalar(name, value, epoch)
        best = val_accuracy > best_accuracy
        if best:
            best_accuracy = val_accuracy
            save_checkpoint(run_dir / CHECKPOINT, model, config, classes, image_size, epoch,
                            val_accuracy)
        print(f"epoch {epoch:>3}/{config.epochs}  train loss {loss:.4f}  val loss {val_loss:.4f}  "
              f"val acc {val_accuracy:.4f}{'  (best, saved)' if best else ''}")
    writer.close()

    best_model, _ = load_checkpoint(run_dir / CHECKPOINT)
    test_loss, test_accuracy = evaluate(best_model.to(device), test_loader, device)
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_val_accuracy": best_accuracy, "epochs": config.epochs,
               "train_samples_per_second": config.epochs * len(splits["train"]) / train_seconds,
               "device": str(device), "history": history}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"test accuracy {test_accuracy:.4f} (best checkpoint: {run_dir / CHECKPOINT}, "
          f"metrics: {run_dir / 'metrics.json'})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    tame_known_noise()
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
