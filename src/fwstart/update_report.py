"""What `fwstart update` tells the person: the plan, the result, what to do next."""

from fwstart import __version__
from fwstart.api import start_commands
from fwstart.merge import BOTH_ADDED, CONFLICT, KEPT_DELETED, KEPT_YOURS, LINKED
from fwstart.update import UpdatePlan, UpdateResult

_EXPLAIN = {
    CONFLICT: "both changed the same lines: resolve the <<<<<<< yours / >>>>>>> markers",
    KEPT_YOURS: "the template no longer has it, but you changed it: kept; delete it if unused",
    KEPT_DELETED: "you deleted it and the template changed it: it stays deleted",
    BOTH_ADDED: "the template now has a file of this name: yours is left as it is; the "
    "template's is in refs/fwstart/base (or .fwstart/base.tar.gz)",
    LINKED: "it is, or is in, a symbolic link: fwstart writes nothing through a symbolic link, "
    "which may lead out of the project; make the template's change by hand (git show "
    "refs/fwstart/base:PATH prints the template's version; outside git, .fwstart/base.tar.gz "
    "holds it)",
}
_KEPT = {
    "git-init": "Started a git repository whose first commit is the generated project; "
    "fwstart update merges later template changes from it.",
    "git-ref": "The generated files are also kept on refs/fwstart/base of the enclosing "
    "repository, for fwstart update; commit the project as you like.",
    "snapshot": "The generated files are also kept in .fwstart/base.tar.gz, for fwstart update.",
}


def base_kept(where: str) -> str | None:
    """Where `fwstart new` kept the render that `fwstart update` starts from."""
    return _KEPT.get(where)


def base_note(plan: UpdatePlan) -> str | None:
    """A warning when no record of the project's template was found."""
    if plan.base_source != "none":
        return None
    return (
        f"No record of the template as fwstart {plan.old_version} rendered it for this project "
        "(made before fwstart kept one, or its refs/fwstart/base or .fwstart/ is gone). "
        f"Compared with fwstart {__version__}'s template for the recorded answers instead: "
        "changed answers apply, template changes made since then do not."
    )


def changes(plan: UpdatePlan) -> str:
    """One line per file the update touches or leaves on purpose."""
    width = max((len(change.action) for change in plan.changes), default=0)
    lines = []
    for change in plan.changes:
        why = f"  ({_EXPLAIN[change.action]})" if change.action in _EXPLAIN else ""
        lines.append(f"  {change.action:<{width}}  {change.path}{why}")
    return "\n".join(lines)


def outcome(result: UpdateResult) -> str:
    """The last lines: what happened, and how to review or undo it."""
    plan = result.plan
    if not plan.changes:
        return f"{plan.project} is up to date with fwstart {__version__}; nothing to do."
    count = sum(1 for change in plan.changes if change.writes)
    if not result.written:
        clashes = f" Would conflict: {', '.join(plan.conflicts)}." if plan.conflicts else ""
        return f"Dry run: {count} file(s) would change; nothing was written.{clashes}"
    lines = [f"Updated {plan.project} to fwstart {__version__}: {count} file(s) changed."]
    if plan.conflicts:
        lines.append(f"Conflicts to resolve: {', '.join(plan.conflicts)}.")
    if install := _install_again(plan):
        lines.append(f"Its dependencies changed: install them again with {install}")
    if plan.undo:
        lines.append(
            "Review with git status and git diff --cached"
            + (", then git add the resolved files" if plan.conflicts else "")
            + f", and commit. Undo with: {plan.undo}"
        )
    return "\n".join(lines)


def _install_again(plan: UpdatePlan) -> str:
    """The README's install lines, when the update changed what they install."""
    installs = ("pyproject.toml", "web/package.json", "web/package-lock.json")
    if not any(change.writes and change.path in installs for change in plan.changes):
        return ""
    lines = start_commands(plan.project / "README.md")
    return " && ".join(
        line.split("#")[0].strip() for line in lines if line.startswith(("pip install", "npm ci"))
    )


def confirm_question(plan: UpdatePlan) -> str:
    """The question asked before changing a project that git cannot restore."""
    count = sum(1 for change in plan.changes if change.writes)
    return (
        f"{plan.project} is not in a git repository, so nothing can undo this. "
        f"Change {count} file(s)?"
    )
