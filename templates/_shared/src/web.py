{%- import "framework.j2" as framework -%}
"""Serve the browser page on this machine.

python -m {{ cookiecutter.package_name }}.web [--port 8080] [--artifacts DIR]

Only what the page needs is served, and only to this machine (127.0.0.1): the page's
own files from web/, the runtime's dist/ folder{{ framework.web_served_doc }} from web/node_modules, and from the
artifacts folder the manifest and the model exported for the web target. Nothing else
in the project (.venv, runs/, the source) can be fetched. The port differs from the
HTTP service's (8000), so both can run at once.
"""

import argparse
import errno
import hashlib
import io
import json
import sys
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import lineage

WEB_DIR = Path("web")
PAGE_FILES = ("index.html", "digits.js", "preprocess.js", "model.js", "style.css")
{{- framework.web_served_files }}


def page_file(url_path: str, web_dir: Path, artifacts: Path) -> Path | None:
    """The file behind a URL path if the page needs it; None for everything else."""
    parts = [part for part in urllib.parse.unquote(url_path).split("/") if part]
    if any(part in (".", "..") or "\\" in part for part in parts):
        return None
    if not parts:
        parts = ["index.html"]
    if len(parts) == 1 and parts[0] in PAGE_FILES:
        root, file = web_dir, web_dir / parts[0]
    elif parts[0] == "node_modules" and {{ framework.web_served_test }}:
        root, file = web_dir / "node_modules", web_dir.joinpath(*parts)
    elif parts[0] == "artifacts" and (
        parts[1:] == ["manifest.json"] or parts[1:2] in web_models(artifacts)
    ):
        root, file = artifacts, artifacts.joinpath(*parts[1:])
    else:
        return None
    # A link inside node_modules or artifacts must not lead out of them.
    if not file.is_file() or not file.resolve().is_relative_to(root.resolve()):
        return None
    return file


def web_models(artifacts: Path) -> list[list[str]]:
    """The web target's model files or folders (as one-item lists), from the manifest."""
    try:
        manifest = json.loads((artifacts / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    return [
        [entry["file"]]
        for entry in manifest.get("artifacts", [])
        if "web" in entry.get("targets", [])
    ]


class PageHandler(SimpleHTTPRequestHandler):
    """http.server's static files, restricted to page_file(), revalidated on every load.

    Cache-Control: no-cache with an ETag from the file's bytes: the browser asks each time and
    reuses its copy only when the bytes are the same, so another project's page on this port
    never runs with this one's scripts (a Last-Modified date cannot tell two projects apart).
    """

    def __init__(self, *args: object, web_dir: Path, artifacts: Path, **kwargs: object) -> None:
        self.web_dir, self.artifacts = web_dir, artifacts
        super().__init__(*args, directory=str(web_dir), **kwargs)  # type: ignore[arg-type]

    def send_head(self) -> io.BytesIO | None:
        file = page_file(urllib.parse.urlsplit(self.path).path, self.web_dir, self.artifacts)
        if file is None:
            self.send_error(404, "File not found")
            return None
        body = file.read_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        asked = self.headers.get("If-None-Match", "")
        unchanged = etag in [tag.strip() for tag in asked.split(",")]
        self.send_response(304 if unchanged else 200)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("ETag", etag)
        if unchanged:
            self.end_headers()
            return None
        self.send_header("Content-Type", self.guess_type(str(file)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def make_server(
    port: int, web_dir: Path = WEB_DIR, artifacts: Path = Path("artifacts")
) -> ThreadingHTTPServer:
    """A server for the page on 127.0.0.1 (port 0: any free port)."""
    handler = partial(PageHandler, web_dir=web_dir, artifacts=artifacts)
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def tcp_port(text: str) -> int:
    """A --port value (for argparse): a whole number from 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0-65535")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the browser page on 127.0.0.1.")
    parser.add_argument("--port", type=tcp_port, default=8080, help="default 8080")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts"),
        help="the folder export wrote (default: artifacts)",
    )
    args = parser.parse_args(argv)
    try:
        server = make_server(args.port, WEB_DIR, args.artifacts)
    except OSError as error:
        reason = "in use" if error.errno == errno.EADDRINUSE else error.strerror
        print(
            f"error: cannot listen on 127.0.0.1:{args.port} ({reason}): pass another --port.",
            file=sys.stderr,
        )
        return 1
    with server:
        for path, fix in [
            (WEB_DIR / "node_modules", "run 'npm ci --prefix web' once"),
            (args.artifacts / "manifest.json", "export first"),
        ]:
            if not path.exists():
                print(f"error: {path} does not exist: {fix}.", file=sys.stderr)
                return 1
        lineage.warn_if_stale(args.artifacts)
        print(
            f"The page is at http://127.0.0.1:{server.server_address[1]}/ (model from "
            f"{args.artifacts}); Ctrl-C stops it.",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
