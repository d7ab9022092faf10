"""The verdict, for every goal and target combination, as README's 'How the verdict works' says."""

from itertools import combinations

import pytest

from fwstart.questions import Answers

TARGETS = ("mobile", "web", "edge", "server")
EVERY_TARGET_SET = [c for n in range(len(TARGETS) + 1) for c in combinations(TARGETS, n)]


def answers(goal: str, targets=(), experience="neither", stack="none") -> Answers:
    return Answers(
        goal=goal, targets=tuple(targets), experience=experience, stack=stack, ci="github"
    )


@pytest.mark.parametrize("targets", [t for t in EVERY_TARGET_SET if t])
def test_deployment_recommends_tensorflow_for_any_targets(catalog, targets):
    verdict = catalog.recommend(answers("deployment", targets))
    assert verdict.framework == "tensorflow"
    assert any("deployment" in reason.text.lower() for reason in verdict.reasons)
    assert verdict.scores["tensorflow"] > verdict.scores["pytorch"]


@pytest.mark.parametrize("targets", EVERY_TARGET_SET)
def test_research_recommends_pytorch_unless_it_must_ship_to_several_devices(catalog, targets):
    """Two or more of mobile, web and edge outweigh research; a server alone does not."""
    verdict = catalog.recommend(answers("research", targets))
    devices = [target for target in targets if target != "server"]
    expected = "tensorflow" if len(devices) >= 2 else "pytorch"
    assert verdict.framework == expected
    if expected == "pytorch":
        assert "research" in verdict.reasons[0].text.lower()


def test_every_reason_favours_the_framework_it_is_listed_under(catalog):
    verdict = catalog.recommend(answers("deployment", ["web"], experience="pytorch"))
    assert all(reason.favours == verdict.framework for reason in verdict.reasons)
    assert all(reason.favours != verdict.framework for reason in verdict.against)
    assert sum(r.points for r in verdict.reasons) == verdict.scores[verdict.framework]


def test_team_experience_and_stack_move_a_close_call(catalog):
    plain = catalog.recommend(answers("deployment", ["server"]))
    moved = catalog.recommend(answers("deployment", ["server"], "pytorch", "pytorch"))
    assert plain.framework == "tensorflow"
    assert moved.framework == "pytorch" and moved.close_call
    assert any("already writes PyTorch" in reason.text for reason in moved.reasons)


def test_experience_alone_does_not_overturn_a_clear_case(catalog):
    verdict = catalog.recommend(answers("deployment", ["mobile", "web"], "pytorch"))
    assert verdict.framework == "tensorflow"
    assert any("PyTorch" in reason.text for reason in verdict.against)


def test_a_tie_follows_the_goal_and_says_so(catalog):
    verdict = catalog.recommend(answers("deployment", ["mobile"], "pytorch", "pytorch"))
    assert verdict.scores["pytorch"] == verdict.scores["tensorflow"]
    assert verdict.framework == "tensorflow"
    assert "tie" in verdict.reasons[-1].text


@pytest.mark.parametrize("targets", EVERY_TARGET_SET)
@pytest.mark.parametrize("goal", ["research", "deployment"])
def test_reasons_name_no_target_that_was_not_chosen(catalog, goal, targets):
    """A reason is true for the answers given: none speaks of a target left out."""
    verdict = catalog.recommend(answers(goal, targets))
    for reason in verdict.reasons + verdict.against:
        text = reason.text.lower()
        for target in set(TARGETS) - set(targets):
            assert f"{target} target" not in text and not text.startswith(f"{target}:"), (
                targets,
                reason.text,
            )
