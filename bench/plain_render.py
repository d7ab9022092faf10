"""The floor for generation: render a template tree with jinja2 alone, nothing else.

python bench/plain_render.py TEMPLATE_DIR OUTPUT_DIR
(No answers, no checks, no atomic move: only what rendering itself costs.)
"""

import json
import shutil
import sys
from pathlib import Path

import jinja2


def main(template: Path, output: Path) -> None:
    defaults = json.loads((template / "cookiecutter.json").read_text())
    context = {
        "cookiecutter": {
            **defaults,
            "project_name": "plain",
            "package_name": "plain",
            "distribution_name": "plain",
            "goal": "research",
            "ci": "github",
        }
    }
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    top = next(p for p in template.iterdir() if p.is_dir())
    for source in sorted(top.rglob("*")):
        if not source.is_file():
            continue
        relative = env.from_string(str(source.relative_to(top))).render(context)
        if not relative or relative.endswith("/"):
            continue
        target = output / "plain" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(source, target)
            continue
        target.write_text(env.from_string(text).render(context), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
