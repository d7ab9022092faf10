"""Peak memory and time of one image decode (images.load_image) at the pixel limit.

    python -m bench.image_decoding [--images PATH] [--pixels N] [--size 224]

Writes one picture of about N pixels (default: images.MAX_PIXELS) in each format and mode
images.py reads, the way a decompression bomb is made (one colour: a few KB to a few MB on
disk), then decodes each in a fresh process and reports how much that process's peak
resident memory (VmHWM in /proc/self/status: Linux; ru_maxrss would carry the parent's peak
across exec) grew over its baseline, and how long the decode took. The growth
is what one decode costs a training thread, a service's decoding thread, or the edge runner.
Run it with the starter environment's Python (Pillow and NumPy); --images measures another
copy of images.py (say, an older one) for comparison.
"""

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "templates" / "_shared" / "src" / "images.py"

# (label, file name, Pillow mode, save options); JPEG also at 4x the limit (drafted smaller).
CASES = [
    ("PNG, RGB", "rgb.png", "RGB", {}),
    ("PNG, RGBA", "rgba.png", "RGBA", {}),
    ("PNG, 16-bit grayscale", "gray16.png", "I;16", {}),
    ("PNG, 1-bit", "bits.png", "1", {}),
    ("WebP lossless, RGB", "rgb.webp", "RGB", {"lossless": True}),
    ("TIFF (deflate), RGB", "rgb.tif", "RGB", {"compression": "tiff_deflate"}),
    ("GIF, palette", "palette.gif", "P", {}),
    ("BMP, grayscale", "gray.bmp", "L", {}),
    ("JPEG, RGB", "rgb.jpg", "RGB", {"quality": 90}),
]

# Run in a fresh process: the baseline is taken after the imports and the file's bytes.
CHILD = r"""
import inspect, io, json, re, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import images
data = Path(sys.argv[2]).read_bytes()
takes_limit = "limit" in inspect.signature(images.load_image).parameters  # older ones do not
limit = {"limit": int(sys.argv[4])} if takes_limit else {}
def peak_kb():
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1])
before = peak_kb()
started = time.perf_counter()
try:
    images.load_image(io.BytesIO(data), int(sys.argv[3]), 3, **limit)
    outcome = "decoded"
except ValueError as error:
    outcome = "refused"
seconds = time.perf_counter() - started
after = peak_kb()
print(json.dumps({"outcome": outcome, "seconds": seconds, "grown_kb": after - before}))
"""


def write_case(folder: Path, name: str, mode: str, options: dict, width: int, height: int) -> Path:
    path = folder / name
    colour = {"RGB": (90, 140, 200), "RGBA": (90, 140, 200, 128), "I;16": 30000}.get(mode, 1)
    Image.new(mode, (width, height), colour).save(path, **options)
    return path


def measure(images: Path, path: Path, size: int, limit: int) -> dict:
    folder = images.parent
    if images.name != "images.py":  # an older copy: importable as "images" from a folder
        folder = Path(tempfile.mkdtemp(prefix="images-py-"))
        (folder / "images.py").write_bytes(images.read_bytes())
    command = [sys.executable, "-c", CHILD, str(folder), str(path), str(size), str(limit)]
    answer = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(answer.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=IMAGES, help="the images.py to measure")
    parser.add_argument("--pixels", type=int, help="default: images.MAX_PIXELS of --images")
    parser.add_argument("--size", type=int, default=224, help="the model's image_size")
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location("measured_images", IMAGES)
    assert spec and spec.loader
    ours = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ours)
    pixels = args.pixels or ours.MAX_PIXELS
    limit = max(pixels, ours.MAX_PIXELS)  # decode N pixels even above the default limit
    height = int(math.sqrt(pixels * 3 / 4))  # a 4:3 photo
    width = pixels // height
    print(
        f"{args.images.relative_to(ROOT) if args.images.is_relative_to(ROOT) else args.images}"
        f": {width} x {height} = {width * height:,} pixels, image_size {args.size}\n"
    )
    print("| Picture | File | Peak memory growth | Bytes per pixel | Time |")
    print("| --- | --- | --- | --- | --- |")
    cases = [*CASES, ("JPEG at 4x the limit, RGB", "big.jpg", "RGB", {"quality": 90})]
    with tempfile.TemporaryDirectory(prefix="image-decoding-") as scratch:
        for label, name, mode, options in cases:
            scale = 2 if name == "big.jpg" else 1
            path = write_case(Path(scratch), name, mode, options, width * scale, height * scale)
            result = measure(args.images, path, args.size, limit)
            grown = result["grown_kb"] * 1024
            print(
                f"| {label} | {path.stat().st_size / 1e3:,.0f} KB | {grown / 1e6:,.0f} MB "
                f"| {grown / (width * height * scale * scale):.1f} | "
                f"{result['seconds']:.2f} s ({result['outcome']}) |"
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
