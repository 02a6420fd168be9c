"""LLMPlanner with LangChain's fake chat models: validation, repair, sampling, caching, examples."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field

from visprog import check, parse
from visprog.errors import PlannerError
from visprog.planners.examples import EXAMPLES, Example
from visprog.planners.llm import LLMPlanner, extract_program
from visprog.planners.select import nearest_examples
from visprog.planners.tasks import detect_task, rule_task
from visprog.tools import registry

GOOD = """BOX0=Loc(image=IMAGE, object='dog')
ANSWER0=Count(box=BOX0)
FINAL=Result(var=ANSWER0)"""

BAD = """BOX0=Locate(image=IMAGE, object='dog')
ANSWER0=Count(box=BOX9)
FINAL=Result(var=ANSWER0)"""


class Recording(FakeListChatModel):
    """FakeListChatModel that keeps every prompt it was given."""

    prompts: list = Field(default_factory=list)

    def _call(self, messages, *args, **kwargs):
        self.prompts.append(messages)
        return super()._call(messages, *args, **kwargs)


def test_first_reply_is_repaired_with_the_diagnostics():
    model = Recording(responses=[BAD, GOOD])
    planner = LLMPlanner(model, retries=2, cache=False)
    program = planner.plan("How many dogs are there?", task="gqa")
    assert program == parse(GOOD)
    assert len(model.prompts) == 2
    second = "\n".join(str(m.content) for m in model.prompts[1])
    assert "unknown module 'Locate'" in second and "did you mean 'Loc'" in second
    assert "'BOX9' is not defined" in second
    assert isinstance(model.prompts[1][-2], AIMessage) and "Locate" in model.prompts[1][-2].content
    assert [a.valid for a in planner.attempts] == [False, True]


def test_garbage_every_turn_ends_in_planner_error_listing_attempts():
    model = FakeListChatModel(responses=["I am not able to write programs, sorry."])
    planner = LLMPlanner(model, retries=2, cache=False)
    with pytest.raises(PlannerError) as info:
        planner.plan("Is there a cat?", task="gqa")
    attempts = info.value.attempts
    assert len(attempts) == 3  # the first try and two retries
    assert all(a.diagnostics and not a.valid for a in attempts)
    assert [a.round for a in attempts] == [1, 2, 3]
    assert str(info.value).count("attempt ") == 3


def test_samples_keep_the_first_valid_candidate():
    model = FakeListChatModel(responses=[BAD, GOOD, "nonsense"])
    planner = LLMPlanner(model, samples=3, retries=0, cache=False)
    assert planner.plan("How many dogs?", task="gqa") == parse(GOOD)
    assert planner.calls == 3
    assert [a.valid for a in planner.attempts] == [False, True]


def test_generic_fake_chat_model_and_fenced_reply():
    reply = f"Here is the program:\n```\n{GOOD}\n```\nIt counts dogs."
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    assert LLMPlanner(model, cache=False).plan("How many dogs?", task="gqa") == parse(GOOD)


def test_plain_callable_planner_sees_the_generated_prompt():
    prompts = []

    def llm(prompt: str) -> str:
        prompts.append(prompt)
        return GOOD
    planner = LLMPlanner(llm, cache=False)
    assert planner.plan("How many dogs are in the photo?") == parse(GOOD)
    prompt = prompts[0]
    assert registry.documentation() in prompt  # generated from the declarations
    assert prompt.rstrip().endswith(
        "Instruction: How many dogs are in the photo?\nTask: gqa\nImages: IMAGE\nProgram:")


def test_examples_are_chosen_by_similarity():
    best = nearest_examples("Is the horse big or small?", k=2, task="gqa")
    assert best[0][0].instruction == "Is the elephant large or small?"
    assert best[0][1] >= best[1][1]
    edit = nearest_examples("Swap the dog for a cat.", k=1, task="edit")[0][0]
    assert edit.task == "edit" and edit.program.count("Replace") + edit.program.count("REPLACE") == 1
    prompts = []
    LLMPlanner(lambda p: prompts.append(p) or GOOD, k=2, cache=False).plan(
        "What colour is the bus?", task="gqa")
    assert "What colour is the scooter?" in prompts[0]
    assert "Tag the emergency workers." not in prompts[0]


def test_custom_examples_are_used():
    mine = [Example("gqa", "Count the zebras.", GOOD)]
    prompts = []
    LLMPlanner(lambda p: prompts.append(p) or GOOD, examples=mine, cache=False).plan(
        "Count the dogs.", task="gqa")
    assert "Count the zebras." in prompts[0]


@pytest.mark.parametrize("instruction,task", [
    ("The left and right image contain a total of six people and two boats.", "nlvr"),
    ("There are more dogs in the left image than in the right image.", "nlvr"),
    ("Both images show exactly one bus.", "nlvr"),
    ("One image contains pizzas and the other does not.", "nlvr"),
    ("How many dogs are to the left of the car?", "gqa"),
    ("Is the cat small or large?", "gqa"),
    ("what color is the bus", "gqa"),
    ("Replace the dog with a cat.", "edit"),
    ("Blur the background but not the horse.", "edit"),
    ("Please hide the faces with a winking face emoji.", "edit"),
    ("Create a color pop of the sheep.", "edit"),
    ("Tag the farm animals.", "tag"),
    ("Label the people in uniform in the image.", "tag"),
    ("Find the fruits and tag them.", "tag"),
])
def test_task_detection(instruction, task):
    assert detect_task(instruction) == task


def test_task_detection_falls_back_to_examples():
    assert rule_task("a sunny beach scene with three umbrellas and two dogs") is None
    assert detect_task("a sunny beach scene with three umbrellas and two dogs") in (
        "nlvr", "gqa", "edit", "tag")


def test_cache_in_memory_and_on_disk(tmp_path):
    model = FakeListChatModel(responses=[GOOD])
    planner = LLMPlanner(model, cache=tmp_path)
    first = planner.plan("How many dogs?", task="gqa")
    assert planner.plan("How many dogs?", task="gqa") == first
    assert planner.calls == 1
    planner.plan("How many dogs?", task="nlvr", inputs=["IMAGE"])  # another key: task
    assert planner.calls == 2
    fresh = LLMPlanner(FakeListChatModel(responses=["garbage"]), cache=tmp_path,
                       name=planner.name)
    assert fresh.plan("How many dogs?", task="gqa") == first  # from the disk cache
    assert fresh.calls == 0
    other = registry.copy()
    other.tools.pop("Point")  # another registry version: not served from the cache
    assert other.version != registry.version
    moved = LLMPlanner(FakeListChatModel(responses=[GOOD]), cache=tmp_path, name=planner.name,
                       registry=other)
    moved.plan("How many dogs?", task="gqa")
    assert moved.calls == 1
    uncached = LLMPlanner(FakeListChatModel(responses=[GOOD]), cache=False)
    uncached.plan("How many dogs?", task="gqa")
    uncached.plan("How many dogs?", task="gqa")
    assert uncached.calls == 2


def test_every_example_parses_and_checks():
    for example in EXAMPLES:
        diagnostics = check(example.program, inputs=example.inputs)
        assert not diagnostics, (example.instruction, diagnostics)
    assert {e.task for e in EXAMPLES} == {"nlvr", "gqa", "edit", "tag"}
    assert any("VQA(" in e.program or "LOC(" in e.program for e in EXAMPLES)  # VisProg spelling


def test_extract_program():
    assert extract_program(f"Sure.\n{GOOD}\nHope this helps.") == GOOD
    assert extract_program("no program here") == "no program here"


def test_a_model_that_raises_is_a_planner_error():
    def broken(prompt):
        raise RuntimeError("connection refused")
    with pytest.raises(PlannerError, match="RuntimeError: connection refused"):
        LLMPlanner(broken, k=0, cache=False).plan("Is there a dog?")
    with pytest.raises(PlannerError, match="instruction is empty"):
        LLMPlanner(broken, k=0, cache=False).plan("  ")


def test_plan_batch_repairs_a_bad_first_candidate_and_names_failures():
    good = "ANSWER0=Vqa(image=IMAGE, question='Is there a dog?')\nFINAL=Result(var=ANSWER0)"
    replies = iter(["BOX0=Nope(image=IMAGE)", good])
    planner = LLMPlanner(lambda prompt: next(replies), k=0, cache=False)
    out = planner.plan_batch(["Is there a dog?", ""], tasks=["gqa", "gqa"])
    assert str(out[0]) == good and len(planner.attempts) == 2 and not planner.attempts[0].valid
    assert isinstance(out[1], PlannerError) and "instruction is empty" in str(out[1])
