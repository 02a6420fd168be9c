"""The in-repo planner refuses empty and gibberish instructions (issue 20); real ones still plan."""

import random
import string

import pytest
from PIL import Image

import visprog
from visprog import PlannerError
from visprog.models import available

pytestmark = pytest.mark.skipif(not available("planner"), reason="planner weights not trained yet")

IMAGE = {"IMAGE": Image.new("RGB", (64, 64), "white")}


@pytest.fixture(scope="module")
def planner():
    from visprog.planners.local import local_planner
    return local_planner(cache=False)


def _letters(rng: random.Random) -> str:
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8)))
                    for _ in range(rng.randint(1, 4)))


@pytest.mark.parametrize("instruction", ["asdf qwer zxcv", "!!!", "qwerty", "hello",
                                         _letters(random.Random(1)), _letters(random.Random(2))])
def test_gibberish_is_refused_through_run(instruction):
    with pytest.raises(PlannerError, match=r"does not read as a request about the image\(s\).*"
                                           r"confidence -?[0-9.]+ < threshold"):
        visprog.run(instruction, IMAGE)


@pytest.mark.parametrize("instruction", ["", "   ", "\n\t"])
def test_empty_instructions_are_refused_through_run(instruction):
    with pytest.raises(PlannerError, match="instruction is empty"):
        visprog.run(instruction, IMAGE)


def test_most_random_letter_strings_are_refused(planner):
    rng = random.Random(0)
    texts = [_letters(rng) for _ in range(20)]
    out = planner.plan_batch(texts)
    assert sum(isinstance(o, PlannerError) for o in out) >= 18  # 96% in the benchmark


def test_real_instructions_still_plan_and_a_batch_names_its_refusal(planner):
    real = ["How many dogs are there?", "Tag the farm animals.", "Is there a penguin in this picture?",
            "The left and right image contain a total of six people and two boats.",
            "Hide the faces with emoji."]
    out = planner.plan_batch(real + ["asdf qwer zxcv"])
    assert all(not isinstance(o, PlannerError) for o in out[:-1]), out
    assert isinstance(out[-1], PlannerError) and "'asdf qwer zxcv'" in str(out[-1])


def test_the_confidence_is_deterministic():
    from visprog.models import load
    model = load("planner")
    texts = ["How many dogs are there?", "asdf qwer zxcv"]
    names = [("IMAGE",)] * 2
    programs, first = model.plan_scored(texts, names, tasks=["gqa", "gqa"])
    assert model.plan_scored(texts, names, tasks=["gqa", "gqa"]) == (programs, first)
    assert model.plan(texts, names, tasks=["gqa", "gqa"]) == programs
    alone = model.plan_scored(texts[1:], names[1:], tasks=["gqa"])[1][0]
    assert alone == pytest.approx(first[1], abs=1e-4)  # batching pads; the score barely moves
    assert first[0] > first[1]


def test_the_cli_and_the_repl_say_why(tmp_path, capsys):
    from visprog.cli import main
    from visprog.repl.session import Session
    path = tmp_path / "white.png"
    IMAGE["IMAGE"].save(path)
    assert main(["run", "asdf qwer zxcv", f"IMAGE={path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the instruction does not read as a request") and err.count("\n") == 1
    reply = Session({"IMAGE": str(path)}).handle(":plan !!!")
    assert not reply.ok and "does not read as a request" in reply.text
