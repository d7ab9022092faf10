"""`fwstart update`: merge a newer template or changed answers into a project (update.py),
print what changed, and choose the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fwstart.cli_common import EXIT_CONFLICTS, EXIT_USER_ERROR, console, note_printer, reported

if TYPE_CHECKING:
    from rich.console import Console

    from fwstart.update import UpdatePlan


@reported
def update(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="The project to update [default: .].", show_default=False
        ),
    ] = Path("."),
    add_target: Annotated[
        list[str] | None,
        typer.Option(metavar="TARGET", help="Add mobile, web, edge or server; repeat for several."),
    ] = None,
    remove_target: Annotated[
        list[str] | None,
        typer.Option(metavar="TARGET", help="Remove a target; repeat for several."),
    ] = None,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            metavar="OPTION",
            help="Add tracking, tuning, registry or monitoring; repeat for several.",
        ),
    ] = None,
    without: Annotated[
        list[str] | None,
        typer.Option(metavar="OPTION", help="Remove an option; repeat for several."),
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option(
            metavar="FRAMEWORK", help="Refused unless the project's own: another is a new project."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="Update a git tree with uncommitted changes.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Outside git, change files without asking.")
    ] = False,
) -> None:
    """Merge a newer template or changed targets into a project.

    Exit status: 0 updated, 3 updated with conflicts to resolve, 1 refused or failed.
    """
    from fwstart import update_report
    from fwstart.api import load_catalog
    from fwstart.update import update_project
    from fwstart.update_answers import AnswerChanges

    out, err = console(), console(stderr=True)
    changes = AnswerChanges(
        tuple(add_target or ()),
        tuple(remove_target or ()),
        framework,
        tuple(with_ or ()),
        tuple(without or ()),
    )
    with err.status("Updating the project") as status:
        result = update_project(
            load_catalog(),
            directory,
            changes,
            dry_run=dry_run,
            allow_dirty=allow_dirty,
            confirm=lambda plan: _confirm_update(plan, yes, err, status.stop),
            on_step=status.update,
            on_note=note_printer(err),
        )
    if note := update_report.base_note(result.plan):
        err.print(f"Note: {note}", soft_wrap=True)
    if result.plan.changes and not result.written and not dry_run:
        err.print("Nothing was written.")
        raise typer.Exit(EXIT_USER_ERROR)
    if result.plan.changes:
        out.print(update_report.changes(result.plan), soft_wrap=True)
    out.print(update_report.outcome(result), soft_wrap=True)
    if result.plan.conflicts:
        raise typer.Exit(EXIT_CONFLICTS)


def _confirm_update(
    plan: UpdatePlan, yes: bool, err: Console, stop_spinner: Callable[[], None]
) -> bool:
    """In git, say how to undo; outside git, ask first (or --yes)."""
    from fwstart import update_report
    from fwstart.errors import InputError

    if plan.undo:
        err.print(f"If this is interrupted, {plan.undo} puts the project back.", soft_wrap=True)
        return True
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(
            f"{plan.project} is not in git, so nothing could undo the update.",
            "Pass --yes to update it anyway, or put it under git first (git init, commit).",
        )
    stop_spinner()
    return typer.confirm(update_report.confirm_question(plan), default=False, err=True)
