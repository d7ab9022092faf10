"""What fwstart shows: verdict, override note, next steps. Returns text; prints nothing."""

import json
import shlex
import textwrap
from collections.abc import Sequence

from rich.table import Table

from fwstart.api import Catalog, Generated
from fwstart.questions import Answers
from fwstart.rules import Recommendation


def verdict_table(catalog: Catalog, verdict: Recommendation) -> Table:
    """The recommendation, each reason, and every framework's score."""
    label = catalog.frameworks[verdict.framework].label
    scores = "  ".join(
        f"{catalog.frameworks[name].label} {score}" for name, score in verdict.scores.items()
    )
    close = " (a close call)" if verdict.close_call else ""
    table = Table(
        title=f"Recommended: {label}{close}", caption=f"Scores: {scores}", show_lines=True
    )
    table.add_column("Reason", ratio=1)
    table.add_column("Favours", no_wrap=True)
    table.add_column("Points", justify="right")
    for reason in (*verdict.reasons, *verdict.against):
        table.add_row(reason.text, catalog.frameworks[reason.favours].label, str(reason.points))
    if not verdict.reasons and not verdict.against:
        table.add_row("No rule applies; every framework scores the same.", label, "0")
    return table


def verdict_json(verdict: Recommendation) -> str:
    """The verdict as JSON: framework, reasons and scores."""
    return json.dumps(
        {
            "framework": verdict.framework,
            "reasons": [reason.text for reason in verdict.reasons],
            "scores": dict(verdict.scores),
        },
        indent=2,
    )


def override_note(catalog: Catalog, verdict: Recommendation, chosen: str, width: int = 80) -> str:
    """Said once when the person overrides the verdict: what they are going against."""
    recommended = catalog.frameworks[verdict.framework].label
    lines = [f"Using {catalog.frameworks[chosen].label} as you asked, instead of {recommended}."]
    lines += [
        textwrap.fill(reason.text, width=width, initial_indent="  - ", subsequent_indent="    ")
        for reason in verdict.reasons
    ]
    return "\n".join(lines)


def next_steps(generated: Generated) -> str:
    """The commands that take the new project from install to verified artifacts."""
    steps = [f"cd {shlex.quote(str(generated.path))}", *generated.next_steps]
    return "Next:\n" + "\n".join(f"  {step}" for step in steps)


def replay_command(catalog: Catalog, directory: str, answers: Answers, framework: str) -> str:
    """The non-interactive command that makes the same project again."""
    parts = ["fwstart", "new", shlex.quote(directory)]
    for key, value in answers.as_dict().items():
        flag = catalog.by_key[key].flag
        values: Sequence[str] = value if isinstance(value, tuple) else [value]
        default = catalog.by_key[key].default
        if value != default:
            parts += [f"{flag} {shlex.quote(item)}" for item in values]
    parts += [f"--framework {framework}", "--yes"]
    return " ".join(parts)


def summary(generated: Generated) -> str:
    """One line: what was made, where."""
    return (
        f"Created {generated.path} — {generated.framework.label} starter, "
        f"package '{generated.names.package}', {len(generated.files)} files."
    )
