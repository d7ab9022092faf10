{%- set litert = cookiecutter.mobile or cookiecutter.edge -%}
{%- set saved_model = cookiecutter.server or litert -%}
"""Export the trained model for each target, and verify every file in its runtime.

python -m {{ cookiecutter.package_name }}.export [--config FILE] [--target NAME ...]

For each target in the config, the formats below are written to artifacts/, run
on the held-out test images in the runtime the target uses, and compared with
the Keras model itself. A file that disagrees fails the export.
"""

import argparse
import json
{%- if saved_model %}
import shutil
{%- endif %}
import sys
{%- if litert %}
import tempfile
{%- endif %}
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import {{ "drift, " if cookiecutter.monitoring else "" }}runtimes{{ ", tracking" if cookiecutter.tracking else "" }}
from .config import TARGETS, Config, load_config, with_overrides
from .data import as_model_input, class_names, load_data, trained_on
from .images import RESIZE
from .model import model_spec
{%- if litert %}
from .quiet import keras, native_noise_dropped, tf
{%- elif cookiecutter.web %}
from .quiet import keras, native_noise_dropped
{%- else %}
from .quiet import keras
{%- endif %}
from .train import CHECKPOINT, load_checkpoint

# float32 models must match Keras within their model's tolerance (model.py) on every test
# image; int8 models must pick the same class for nearly all of them.
MIN_TOP1_AGREEMENT = {"float32": 1.0, "int8": 0.99}
{%- if saved_model %}


def write_saved_model(model: keras.Model, sample: np.ndarray, path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    model.export(str(path), format="tf_saved_model", verbose=False)
{%- endif %}
{%- if litert %}


def write_litert(model: keras.Model, sample: np.ndarray, path: Path) -> None:
    with native_noise_dropped():
        model.export(str(path), format="litert", verbose=False)


def write_litert_int8(model: keras.Model, sample: np.ndarray, path: Path) -> None:
    """Full-integer int8, calibrated on training images; it takes raw uint8 pixels."""
    with tempfile.TemporaryDirectory() as scratch:
        write_saved_model(model, sample, Path(scratch) / "saved_model")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(scratch) / "saved_model"))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in sample)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.int8
        with native_noise_dropped():
            path.write_bytes(converter.convert())
{%- endif %}
{%- if cookiecutter.web %}


def write_litert_web(model: keras.Model, sample: np.ndarray, path: Path) -> None:
    """The page's model: LiteRT, batch 1, since LiteRT.js runs a model at its stored shape."""
    signature = [keras.InputSpec(shape=(1, *sample.shape[1:]), dtype="float32")]
    with native_noise_dropped():
        model.export(str(path), format="litert", input_signature=signature, verbose=False)
{%- endif %}


@dataclass(frozen=True)
class Format:
    """An export format: its file, how to write it, its precision and verifying runtimes."""

    file: str
    write: Callable[[keras.Model, np.ndarray, Path], None]
    precision: str
    runtimes: dict[str, Callable[[Path], runtimes.Runner]]
    batch: int | None = None  # None: any batch size


{%- if not (cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server) %}
FORMATS: dict[str, Format] = {}
{%- else %}
FORMATS: dict[str, Format] = {
{%- if cookiecutter.server %}
    "saved_model": Format("saved_model", write_saved_model, "float32",
                          {"tf.saved_model": runtimes.saved_model}),
{%- endif %}
{%- if litert %}
    "litert": Format("model.tflite", write_litert, "float32", {"ai-edge-litert": runtimes.litert}),
    "litert_int8": Format("model_int8.tflite", write_litert_int8, "int8",
                          {"ai-edge-litert": runtimes.litert}),
{%- endif %}
{%- if cookiecutter.web %}
    "litert_web": Format("model_web.tflite", write_litert_web, "float32",
                         {"LiteRT.js (Node.js)": runtimes.litert_js}, batch=1),
{%- endif %}
}{%- endif %}

# What each target this project was made for needs; edge lists int8 first, as the format it
# should default to.
{%- if not (cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server) %}
TARGET_FORMATS: dict[str, list[str]] = {}  # made for training only: no target
{%- else %}
TARGET_FORMATS: dict[str, list[str]] = {
{%- if cookiecutter.server %}
    "server": ["saved_model"],
{%- endif %}
{%- if cookiecutter.web %}
    "web": ["litert_web"],
{%- endif %}
{%- if cookiecutter.edge %}
    "edge": ["litert_int8", "litert"],
{%- endif %}
{%- if cookiecutter.mobile %}
    "mobile": ["litert", "litert_int8"],
{%- endif %}
}
{%- endif %}


def plan(targets: tuple[str, ...]) -> dict[str, list[str]]:
    """Which formats to write for these targets, each with the targets it serves."""
    formats: dict[str, list[str]] = {}
    for target in targets:
        for name in TARGET_FORMATS[target]:
            formats.setdefault(name, []).append(target)
    return formats


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Max absolute difference of logits and share of equal top-1 classes."""
    return {
        "max_abs_diff": float(np.abs(reference - candidate).max()),
        "top1_agreement": float((reference.argmax(1) == candidate.argmax(1)).mean()),
    }


def passes(precision: str, figures: dict[str, float], tolerance: float) -> bool:
    """float32 must match within ``tolerance``; int8 is judged by the classes it picks."""
    close = precision != "float32" or figures["max_abs_diff"] <= tolerance
    return close and figures["top1_agreement"] >= MIN_TOP1_AGREEMENT[precision]


def size_of(path: Path) -> int:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(file.stat().st_size for file in files)


def export(config: Config) -> dict:
    """Write and verify every artifact the config's targets need; return the manifest."""
    model, saved = load_checkpoint(Path(config.run_dir) / CHECKPOINT)
    config = trained_on(config, saved["config"])
    splits = load_data(config)
    pixels = as_model_input(splits["test"].images)
    reference = model(pixels, training=False).numpy()
    sample = as_model_input(splits["train"].images[:200])  # int8 calibration images
    out_dir = Path(config.artifacts_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"input": {"name": "pixels", "shape": [None, *pixels.shape[1:]],
                          "dtype": "float32", "layout": "NHWC", "range": [0, 255]},
                "classes": class_names(config.data) or [str(n) for n in range(reference.shape[1])],
                "image_size": int(pixels.shape[2]), "channels": int(pixels.shape[3]),
                "resize": RESIZE, "model": config.model,
                "artifacts": []}
{%- if cookiecutter.monitoring %}
    # What the service's drift score compares its traffic with: the training images.
    manifest["monitoring"] = drift.write_reference(as_model_input(splits["train"].images), out_dir)
{%- endif %}
    failures, tolerance = [], model_spec(config.model).tolerance
    for name, targets in plan(config.targets).items():
        form, path = FORMATS[name], out_dir / FORMATS[name].file
        form.write(model, sample, path)
        entry = {"file": path.name, "format": name, "targets": targets,
                 "size_bytes": size_of(path), "precision": form.precision,
                 "input_shape": [form.batch, *pixels.shape[1:]],
                 "input_dtype": "uint8" if form.precision == "int8" else "float32",
                 "dynamic_batch": form.batch is None, "verified": []}
        for runtime, load in form.runtimes.items():
            run = load(path)
            figures = compare(reference, run(pixels))
            single = compare(reference[:1], run(pixels[:1]))  # batch 1 runs too
            figures["max_abs_diff"] = max(figures["max_abs_diff"], single["max_abs_diff"])
            ok = passes(form.precision, figures, tolerance)
            entry["verified"].append({"runtime": runtime, "samples": len(pixels), "ok": ok,
                                      **figures})
            print(f"{'ok  ' if ok else 'FAIL'} {path.name:<17} {runtime:<15} "
                  f"max |diff| {figures['max_abs_diff']:.2e}  top-1 agreement "
                  f"{figures['top1_agreement']:.2%}  ({entry['size_bytes'] / 1024:.0f} KiB)")
            if not ok:
                failures.append(f"{path.name} in {runtime}")
        manifest["artifacts"].append(entry)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if failures:
        raise RuntimeError(f"Exported model(s) disagree with Keras beyond tolerance "
                           f"(float32: max |diff| {tolerance} and top-1 100%; int8: top-1 "
                           f"{MIN_TOP1_AGREEMENT['int8']:.0%}): {', '.join(failures)}.")
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
