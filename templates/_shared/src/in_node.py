"""Run an exported model through web/verify.mjs in Node.js: the JavaScript the page uses."""

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

WEB_DIR = Path("web")


def node_runner(model: Path, library: str) -> Callable[[np.ndarray], np.ndarray]:
    """A runner that feeds float32 pixels to verify.mjs, which runs ``model`` with ``library``.

    ``library`` is the npm package verify.mjs uses ('npm ci --prefix web' installs it).
    """
    node = shutil.which("node")
    if node is None or not (WEB_DIR / "node_modules" / library).is_dir():
        raise RuntimeError(
            f"The web target is verified in Node.js with {library}: install Node.js 20+ "
            "and run 'npm ci --prefix web' once, then export again."
        )

    def run(pixels: np.ndarray) -> np.ndarray:
        with tempfile.TemporaryDirectory() as scratch:
            inputs = Path(scratch) / "pixels.bin"
            inputs.write_bytes(np.ascontiguousarray(pixels, dtype="<f4").tobytes())
            shape = [str(size) for size in pixels.shape]
            command = [node, str(WEB_DIR / "verify.mjs"), str(model), str(inputs), *shape]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{library} failed in Node.js:\n{result.stderr.strip()}")
        output = json.loads(result.stdout)
        return np.asarray(output["data"], dtype=np.float32).reshape(output["dims"])

    return run
