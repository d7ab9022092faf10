{%- set onnx = cookiecutter.server or cookiecutter.web or cookiecutter.edge -%}
{%- set executorch = cookiecutter.mobile or cookiecutter.edge -%}
"""Export the trained model for each target, and verify every file in its runtime.

python -m {{ cookiecutter.package_name }}.export [--config FILE] [--target NAME ...]

For each target in the config, the formats below are written to artifacts/, run
on the held-out test images in the runtime the target uses, and compared with
the PyTorch model itself. A file that disagrees fails the export.
"""

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import {{ "drift, " if cookiecutter.monitoring else "" }}runtimes{{ ", tracking" if cookiecutter.tracking else "" }}
from .config import TARGETS, Config, load_config, with_overrides
from .data import as_model_input, class_names, load_data, trained_on
from .images import RESIZE
from .model import model_spec
from .quiet import tame_known_noise
from .train import CHECKPOINT, load_checkpoint

# Exported models must match the PyTorch model within its tolerance (model.py) on every test
# image, and pick the same class for all of them.
MIN_TOP1_AGREEMENT = 1.0
# The exported models accept any batch size in this range.
MAX_BATCH = 1024


def _batch_dim() -> torch.export.Dim:
    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    print("note: TorchScript (model.pt) is deprecated since PyTorch 2.11 in favour of "
          "torch.export; it is written for libtorch/C++ servers and older mobile apps. "
          "Prefer model.pt2 (servers) or model.pte (mobile, edge) for new work.")
    # Traced, not scripted: TorchScript's compiler cannot read the transformers MobileNet's
    # Python. A trace records one run, which holds for these models at any batch size.
    with warnings.catch_warnings():  # the image size becomes a constant: it is one
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.trace(model, example).save(str(path))


def write_exported_program(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    program = torch.export.export(model, (example,), dynamic_shapes={"pixels": {0: _batch_dim()}})
    torch.export.save(program, str(path))


{%- if onnx %}


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    # One self-contained file (onnxruntime-web cannot load external weights).
    torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False,
                      opset_version=18, input_names=["pixels"], output_names=["logits"],
                      dynamic_shapes={"pixels": {0: _batch_dim()}}, verbose=False)
{%- endif %}
{%- if executorch %}


def write_executorch(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    # With oneDNN or NNPACK on, convolution lowering adds a guard that quietly narrows
    # the dynamic batch to at most 15; lowering without them keeps the full range.
    with torch.backends.mkldnn.flags(enabled=False), torch.backends.nnpack.flags(enabled=False):
        program = torch.export.export(model, (example,),
                                      dynamic_shapes={"pixels": {0: _batch_dim()}})
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        path.write_bytes(lowered.to_executorch().buffer)
{%- endif %}


@dataclass(frozen=True)
class Format:
    """An export format: its file, how to write it, and the runtimes that verify it."""

    file: str
    write: Callable[[nn.Module, torch.Tensor, Path], None]
    runtimes: dict[str, Callable[[Path], runtimes.Runner]]
    how: str = ""  # recorded in the manifest where the way it is written matters


FORMATS = {
    "torchscript": Format("model.pt", write_torchscript, {"torch.jit": runtimes.torchscript},
                          "torch.jit.trace (transformers' MobileNet cannot be scripted)"),
    "torch.export": Format("model.pt2", write_exported_program,
                           {"torch.export": runtimes.exported_program}),
{%- if onnx %}
    "onnx": Format("model.onnx", write_onnx, {"onnxruntime": runtimes.onnxruntime}),
{%- endif %}
{%- if executorch %}
    "executorch": Format("model.pte", write_executorch, {"executorch": runtimes.executorch}),
{%- endif %}
}

# What each target this project was made for needs, and any extra runtime that must verify
# it there. The deprecated TorchScript comes last, so the manifest (and predict) lead with a
# modern format.
{%- if not (cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server) %}
TARGET_FORMATS: dict[str, list[str]] = {}  # made for training only: no target
{%- else %}
TARGET_FORMATS: dict[str, list[str]] = {
{%- if cookiecutter.server %}
    "server": ["torch.export", "onnx", "torchscript"],
{%- endif %}
{%- if cookiecutter.web %}
    "web": ["onnx"],  # what the page runs: TorchScript has no browser runtime
{%- endif %}
{%- if cookiecutter.edge %}
    "edge": ["executorch", "onnx", "torchscript"],
{%- endif %}
{%- if cookiecutter.mobile %}
    "mobile": ["executorch", "torchscript"],
{%- endif %}
}
{%- endif %}
TARGET_RUNTIMES: dict[str, dict[str, dict[str, Callable]]] = {
{%- if cookiecutter.web %}
    "web": {"onnx": {"onnxruntime-web": runtimes.onnxruntime_web}},
}
{%- else -%}
}
{%- endif %}


def plan(targets: tuple[str, ...]) -> dict[str, tuple[list[str], dict[str, Callable]]]:
    """Which formats to write for these targets, with their targets and verifying runtimes."""
    formats: dict[str, tuple[list[str], dict[str, Callable]]] = {}
    for target in targets:
        for name in TARGET_FORMATS[target]:
            chosen, checks = formats.setdefault(name, ([], dict(FORMATS[name].runtimes)))
            chosen.append(target)
            checks.update(TARGET_RUNTIMES.get(target, {}).get(name, {}))
    return formats


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Max absolute difference of logits and share of equal top-1 classes."""
    return {
        "max_abs_diff": float(np.abs(reference - candidate).max()),
        "top1_agreement": float((reference.argmax(1) == candidate.argmax(1)).mean()),
    }


def export(config: Config) -> dict:
    """Write and verify every artifact the config's targets need; return the manifest."""
    tame_known_noise()
    model, checkpoint = load_checkpoint(Path(config.run_dir) / CHECKPOINT)
    config = trained_on(config, checkpoint["config"])
    splits = load_data(config)
    pixels = as_model_input(splits["test"].images)
    with torch.no_grad():
        reference = model(torch.from_numpy(pixels)).numpy()
    # A copy, so that an exported program stores this example alone, not all test images.
    example = torch.from_numpy(pixels[:4].copy())
    out_dir = Path(config.artifacts_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"input": {"name": "pixels", "shape": [None, *pixels.shape[1:]],
                          "dtype": "float32", "layout": "NCHW", "range": [0, 255]},
                "classes": class_names(config.data) or [str(n) for n in range(reference.shape[1])],
                "image_size": int(pixels.shape[2]), "channels": int(pixels.shape[1]),
                "resize": RESIZE, "model": config.model,
                "checkpoint": {"epoch": checkpoint["epoch"],
                               "val_accuracy": checkpoint["val_accuracy"]},
                "artifacts": []}
{%- if cookiecutter.monitoring %}
    # What the service's drift score compares its traffic with: the training images.
    manifest["monitoring"] = drift.write_reference(as_model_input(splits["train"].images), out_dir)
{%- endif %}
    failures, tolerance = [], model_spec(config.model).tolerance
    for name, (targets, checks) in plan(config.targets).items():
        path = out_dir / FORMATS[name].file
        FORMATS[name].write(model, example, path)
        entry = {"file": path.name, "format": name, "targets": targets,
                 "size_bytes": path.stat().st_size, "input_shape": [None, *pixels.shape[1:]],
                 "input_dtype": "float32", "dynamic_batch": [1, MAX_BATCH], "verified": []}
        if FORMATS[name].how:
            entry["written_with"] = FORMATS[name].how
        for runtime, load in checks.items():
            run = load(path)
            figures = compare(reference, run(pixels))
            single = compare(reference[:1], run(pixels[:1]))  # batch 1 runs too
            figures["max_abs_diff"] = max(figures["max_abs_diff"], single["max_abs_diff"])
            ok = (figures["max_abs_diff"] <= tolerance
                  and figures["top1_agreement"] >= MIN_TOP1_AGREEMENT)
            entry["verified"].append({"runtime": runtime, "samples": len(pixels), "ok": ok,
                                      **figures})
            print(f"{'ok  ' if ok else 'FAIL'} {path.name:<11} {runtime:<15} "
                  f"max |diff| {figures['max_abs_diff']:.2e}  top-1 agreement "
                  f"{figures['top1_agreement']:.2%}  ({entry['size_bytes'] / 1024:.0f} KiB)")
            if not ok:
                failures.append(f"{path.name} in {runtime}")
        manifest["artifacts"].append(entry)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if failures:
        raise RuntimeError(f"Exported model(s) disagree with PyTorch beyond tolerance "
                           f"(max |diff| {tolerance}, top-1 100%): {', '.join(failures)}.")
    return manifest


def not_made_for(targets: list[str]) -> str:
    """One line: this project has no code for these targets, and how to add them."""
    return (f"error: this project was not made for {', '.join(targets)} (made for: "
            f"{', '.join(TARGET_FORMATS) or 'no target'}). Add it with 'fwstart update"
            + "".join(f" --add-target {target}" for target in targets) + "', which merges "
            "its code and dependencies into this project (commit your work first).")


def nothing_to_export(config_path: Path) -> str:
    if TARGET_FORMATS:
        return (f"No export targets in {config_path} ('targets'); nothing to export. Add some "
                f"there, or pass --target with one of: {', '.join(TARGET_FORMATS)}.")
    return ("Nothing to export: this project was made for training only (no target). To add "
            "one: 'fwstart update --add-target NAME', NAME one of: " + ", ".join(TARGETS) + ".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export and verify the trained model.")
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--target", action="append", choices=TARGETS,
                        help="export for this target instead of the config's (repeatable)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.target:
            config = with_overrides(config, targets=args.target)
        if unknown := [target for target in config.targets if target not in TARGET_FORMATS]:
            print(not_made_for(unknown), file=sys.stderr)
            return 1
        if not config.targets:
            print(nothing_to_export(args.config))
            return 0
        manifest = export(config)
{%- if cookiecutter.tracking %}
        tracking.log_export(config)
{%- endif %}
    except ModuleNotFoundError as error:  # an install that predates a target (fwstart update)
        print(f"error: {error.name} is not installed, and this export needs it. Install the "
              "project's dependencies again: pip install -e \".[dev]\"", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(manifest['artifacts'])} artifact(s) verified; manifest: "
          f"{Path(config.artifacts_dir) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
