"""What the generated READMEs tell a new user is true: their links, commands and artifacts."""

import re
import tomllib
from pathlib import Path

import pytest

from fwstart.api import new_project
from fwstart.questions import Answers

ROOT = Path(__file__).resolve().parents[1]
EVERY_TARGET = ("mobile", "web", "edge", "server")
EVERY_OPTION = ("tracking", "tuning", "registry", "monitoring")
URL = re.compile(r"https?://[^\s)>\]`'\"]+")


def readme(catalog, tmp_path: Path, framework: str, targets=EVERY_TARGET, options=()) -> str:
    goal = "deployment" if targets else "research"
    answers = Answers(goal, tuple(targets), "neither", "none", "github", tuple(options))
    project = new_project(catalog, tmp_path / "demo", answers, framework).path
    return (project / "README.md").read_text()


@pytest.fixture(params=["pytorch", "tensorflow"])
def framework(request):
    return request.param


def test_links_to_fwstart_are_only_those_its_pyproject_declares(catalog, tmp_path, framework):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project.get("urls", {}).values())
    texts = [readme(catalog, tmp_path, framework, EVERY_TARGET, EVERY_OPTION)]
    texts += [path.read_text() for path in sorted((ROOT / "src" / "fwstart").glob("*.py"))]
    ours = {url for text in texts for url in URL.findall(text) if "fwstart" in url.lower()}
    assert ours <= declared, f"not in [project.urls]: {sorted(ours - declared)}"


def test_prometheus_in_the_readme_listens_on_this_machine_only(catalog, tmp_path, framework):
    text = readme(catalog, tmp_path, framework, ("server",), ("monitoring",))
    commands = re.findall(r"^prometheus (?:.*\\\n)*.*", text, flags=re.MULTILINE)
    assert commands, "the README shows no prometheus command"
    for command in commands:
        assert "--web.listen-address=127.0.0.1:" in command, command
        # Its default storage is ./data/: the project's own data folder, which git tracks.
        assert "--storage.tsdb.path=monitoring/" in command, command


def test_photos_where_the_readme_puts_them_never_block_an_update(fwstart, tmp_path, framework):
    assert fwstart("new", "demo", "--yes", "--framework", framework).exit_code == 0
    project = tmp_path / "demo"
    folder = re.search(r"`(data/[\w-]+)/cat/", (project / "README.md").read_text())
    assert folder, "the README names no folder for photos"
    for name in ("cat", "dog"):
        (project / folder[1] / name).mkdir(parents=True)
        (project / folder[1] / name / "1.jpg").write_bytes(b"\xff\xd8\xff a photo")
    updated = fwstart("update", "demo", "--add-target", "web")
    assert updated.exit_code == 0, updated.output
    assert (project / "web" / "index.html").is_file()


# A duration a README states: "about 10 s", "in seconds", "takes several minutes", "~2 ms"...
# (not a setting's value such as "--timeout (10 s)" or an alert's "for 5 minutes").
DURATION = re.compile(
    r"(?:\b(?:about|under|within|in|takes)\s+(?:a|an|several|a few|\d+(?:\.\d+)?)?\s?"
    r"(?:ms|s|seconds?|minutes?|min|hours?)\b|~\d+(?:\.\d+)? ?(?:ms|s)\b)"
)


def test_every_duration_a_readme_states_is_measured_in_bench_results(catalog, tmp_path):
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    assert "## Durations the READMEs state" in results
    table = results.split("## Durations the READMEs state", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for framework in ("pytorch", "tensorflow"):
        for targets in ((), EVERY_TARGET):
            name = f"{framework} {'-'.join(targets) or 'research'}"
            where = tmp_path / name.replace(" ", "-")
            texts[name] = readme(
                catalog, where, framework, targets, EVERY_OPTION if targets else ()
            )
    stated = {
        (name, " ".join(claim.split()))
        for name, text in texts.items()
        for claim in DURATION.findall(text)
    }
    assert stated, "no duration found: the pattern no longer matches the READMEs"
    missing = sorted((name, claim) for name, claim in stated if claim not in listed)
    assert not missing, f"durations with no measurement in bench/RESULTS.md: {missing}"
