"""How much code a researcher reads: lines and modules of generated projects; prints Markdown.

python -m bench.code_size

For each framework: the default research project (``fwstart new NAME --yes``) and the largest
option set (every target, every ``--with``): Python modules and lines under src/, lines of
train.py, and files in the project. Lines are counted as ``wc -l`` counts them.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

FRAMEWORKS = ("pytorch", "tensorflow")
LARGEST = [
    *("--goal", "deployment"),
    *(word for target in ("mobile", "web", "edge", "server") for word in ("--target", target)),
    *(
        word
        for option in ("tracking", "tuning", "registry", "monitoring")
        for word in ("--with", option)
    ),
]
# The references the issue measures against: their one training file, about this long.
REFERENCES = [("nanoGPT train.py", "~330"), ("pytorch/examples mnist/main.py", "~140")]


def generate(folder: Path, framework: str, options: list[str]) -> Path:
    project = folder / f"size-{framework}-{len(options)}"
    command = [sys.executable, "-m", "fwstart", "new", str(project), "--framework", framework]
    subprocess.run([*command, "--yes", "--no-git", *options], check=True, capture_output=True)
    return project


def lines(path: Path) -> int:
    return path.read_text(encoding="utf-8").count("\n")


def measure(project: Path) -> tuple[int, int, int, int]:
    """Modules and lines under src/, train.py's lines, and every file of the project."""
    modules = sorted((project / "src").rglob("*.py"))
    package = next(path.parent for path in modules if path.name == "train.py")
    files = [path for path in project.rglob("*") if path.is_file() and ".git" not in path.parts]
    total = sum(lines(path) for path in modules)
    return len(modules), total, lines(package / "train.py"), len(files)


def main() -> None:
    print("| Project | Modules in src/ | Lines in src/ | train.py | Files |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for framework in FRAMEWORKS:
            for name, options in (("default research", []), ("largest option set", LARGEST)):
                modules, total, train, files = measure(generate(Path(folder), framework, options))
                print(f"| {framework}, {name} | {modules} | {total} | {train} | {files} |")
    for name, count in REFERENCES:
        print(f"| {name} | 1 | {count} | {count} | 1 |")


if __name__ == "__main__":
    main()
