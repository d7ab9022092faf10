"""The verdict: which framework fits the answers, with the reasons why.

``recommend`` is a pure function over the rules in data/rules.yaml: each rule
whose condition matches gives points to one framework and contributes a reason.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from fwstart import yamlio
from fwstart.errors import TemplateError
from fwstart.questions import Answers, matches


@dataclass(frozen=True)
class Rule:
    """One weighed reason from data/rules.yaml."""

    when: Mapping[str, str]
    favours: str
    points: int
    reason: str


@dataclass(frozen=True)
class RuleBook:
    """All verdict rules, with how ties and close calls are handled."""

    rules: tuple[Rule, ...]
    tie_break: tuple[Rule, ...]
    close_call_margin: int


@dataclass(frozen=True)
class Reason:
    """A reason that applies to these answers, and the framework it favours."""

    text: str
    favours: str
    points: int


@dataclass(frozen=True)
class Recommendation:
    """The verdict for one set of answers.

    Attributes:
        framework: the recommended framework's key.
        scores: every framework's total points.
        reasons: the reasons that favour the recommended framework.
        against: the reasons that favour another framework.
        close_call: True when the lead is within the rule book's margin.
    """

    framework: str
    scores: Mapping[str, int]
    reasons: tuple[Reason, ...]
    against: tuple[Reason, ...]
    close_call: bool


def load_rules(path: Path, frameworks: Collection[str]) -> RuleBook:
    """Read data/rules.yaml and check that every rule names a known framework.

    Raises:
        TemplateError: when a rule is malformed or favours an unknown framework.
    """
    raw = yamlio.load(path.read_text(encoding="utf-8"))
    try:
        rules = tuple(_rule(item, frameworks) for item in raw["rules"])
        tie_break = tuple(_rule({"points": 0, **item}, frameworks) for item in raw["tie_break"])
        return RuleBook(rules, tie_break, int(raw["close_call_margin"]))
    except (KeyError, TypeError, ValueError) as error:
        raise TemplateError(
            f"{path} is malformed: {error}.", "Restore it from the fwstart release you installed."
        ) from error


def _rule(item: Mapping, frameworks: Collection[str]) -> Rule:
    if item["favours"] not in frameworks:
        raise ValueError(f"rule favours unknown framework {item['favours']!r}")
    return Rule(dict(item["when"]), item["favours"], int(item["points"]), str(item["reason"]))


def recommend(answers: Answers, book: RuleBook, frameworks: Collection[str]) -> Recommendation:
    """Score every framework against the answers and pick the best.

    Args:
        answers: the person's answers.
        book: the verdict rules.
        frameworks: the frameworks to score (each starts at zero).
    """
    values = answers.as_dict()
    fired = [rule for rule in book.rules if matches(rule.when, values)]
    scores = {name: 0 for name in frameworks}
    for rule in fired:
        scores[rule.favours] += rule.points
    best = max(scores.values())
    leaders = [name for name, score in scores.items() if score == best]
    tie = next((rule for rule in book.tie_break if matches(rule.when, values)), None)
    winner = tie.favours if len(leaders) > 1 and tie and tie.favours in leaders else leaders[0]
    reasons = [Reason(rule.reason, rule.favours, rule.points) for rule in fired]
    if len(leaders) > 1 and tie:
        reasons.append(Reason(tie.reason, winner, 0))
    runner_up = max((score for name, score in scores.items() if name != winner), default=0)
    return Recommendation(
        framework=winner,
        scores=scores,
        reasons=tuple(reason for reason in reasons if reason.favours == winner),
        against=tuple(reason for reason in reasons if reason.favours != winner),
        close_call=scores[winner] - runner_up <= book.close_call_margin,
    )
