{%- set onnx = cookiecutter._framework == "PyTorch" -%}
"""Run the exported model on a device that has no PyTorch or TensorFlow.

Copy this file, artifacts/manifest.json and the model to the device, then:

    pip install numpy {{ "onnxruntime" if onnx else "ai-edge-litert" }}
    python run.py MODEL IMAGES.npy|.npz [--manifest manifest.json]

IMAGES: uint8 images (N, H, W) as .npy, or an .npz with x_test (and y_test, for accuracy).
Only NumPy and the model's runtime are imported: nothing of the training framework.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
{%- if onnx %}


def onnx_runner(path: Path):  # noqa: ANN201 - returns a function of pixels
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


RUNNERS = {".onnx": onnx_runner}
{%- else %}


def litert_runner(path: Path):  # noqa: ANN201 - returns a function of pixels
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(pixels: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(source["index"], list(pixels.shape))
        interpreter.allocate_tensors()
        scale, zero_point = source["quantization"]
        if source["dtype"] != np.float32:  # an integer model: quantize raw pixels
            limits = np.iinfo(source["dtype"])
            pixels = np.clip(np.round(pixels / scale + zero_point), limits.min, limits.max)
        interpreter.set_tensor(source["index"], pixels.astype(source["dtype"]))
        interpreter.invoke()
        output = interpreter.get_tensor(target["index"]).astype(np.float32)
        scale, zero_point = target["quantization"]
        return (output - zero_point) * scale if target["dtype"] != np.float32 else output

    return run


RUNNERS = {".tflite": litert_runner}
{%- endif %}


def read_images(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            return arrays["x_test"], arrays["y_test"] if "y_test" in arrays.files else None
    images = np.load(path)
    return (images[None] if images.ndim == 2 else images), None


def to_model_input(images: np.ndarray, layout: str) -> np.ndarray:
    """Raw 0-255 pixels with the channel axis where the model wants it (see manifest.json)."""
    axis = 1 if layout == "NCHW" else 3
    return np.ascontiguousarray(np.expand_dims(images, axis), dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with an exported model.")
    parser.add_argument("model", type=Path, help="{{ 'model.onnx' if onnx else 'a .tflite file' }}")
    parser.add_argument("images", type=Path, help=".npy of uint8 images, or an .npz with x_test")
    parser.add_argument("--manifest", type=Path, help="default: manifest.json beside the model")
    args = parser.parse_args(argv)
    manifest_path = args.manifest or args.model.parent / "manifest.json"
    if args.model.suffix not in RUNNERS or not args.model.is_file():
        print(f"error: {args.model} is not {{ 'an .onnx' if onnx else 'a .tflite' }} file.", file=sys.stderr)
        return 1
    if not manifest_path.is_file() or not args.images.is_file():
        print(f"error: need {manifest_path} and {args.images}.", file=sys.stderr)
        return 1
    manifest = json.loads(manifest_path.read_text())
    images, labels = read_images(args.images)
    pixels = to_model_input(images, manifest["input"]["layout"])
    logits = RUNNERS[args.model.suffix](args.model)(pixels)
    predicted = logits.argmax(axis=1)
    classes = manifest["classes"]
    print(json.dumps({"predictions": [classes[index] for index in predicted]}))
    if labels is not None:
        accuracy = (predicted == labels).mean()
        print(f"accuracy on {len(labels)} images: {accuracy:.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
