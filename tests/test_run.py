"""visprog.run: plan with a (fake) chat model, check, execute with the oracle backend."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from visprog.api import run
from visprog.errors import PlannerError, ToolError
from visprog.iconworld import tasks
from visprog.planners.llm import LLMPlanner


@pytest.fixture(scope="module")
def nlvr_item():
    return tasks.generate_item("nlvr", seed=11, index=0)


@pytest.fixture(scope="module")
def gqa_item():
    return next(item for item in tasks.generate("gqa", 10, seed=12) if item.get("form") == "count")


def test_run_with_a_fake_chat_model_and_the_oracle(nlvr_item):
    planner = LLMPlanner(FakeListChatModel(responses=[nlvr_item["program"]]), cache=False)
    result = run(nlvr_item["instruction"], nlvr_item["images"], planner=planner, backend="oracle")
    assert str(result.program) == str(visprog.parse(nlvr_item["program"]))
    ok, why = tasks.reproduces(nlvr_item, result)
    assert ok, why
    assert "<html" in result.html().lower()


def test_run_detects_the_task_and_passes_the_image_names(gqa_item):
    prompts = []

    def llm(prompt):
        prompts.append(prompt)
        return gqa_item["program"]
    result = run(gqa_item["instruction"], gqa_item["images"], planner=llm, backend="oracle")
    assert "Images: IMAGE\nProgram:" in prompts[0]
    assert tasks.reproduces(gqa_item, result)[0]


def test_invalid_programs_never_run(gqa_item):
    planner = LLMPlanner(FakeListChatModel(responses=["ANSWER0=Vqa(image=LEFT, question='x')"]),
                         retries=1, cache=False)
    with pytest.raises(PlannerError) as info:
        run(gqa_item["instruction"], gqa_item["images"], planner=planner, backend="oracle")
    assert len(info.value.attempts) == 2
    assert "'LEFT' is not defined" in str(info.value)


def test_runtime_errors_are_repaired_once_when_asked(gqa_item):
    broken = "ANSWER0=Vqa(image=IMAGE, question='Why is the sky made of glue?')\nFINAL=Result(var=ANSWER0)"
    replies = [broken, gqa_item["program"]]
    plain = LLMPlanner(FakeListChatModel(responses=replies), cache=False)
    with pytest.raises(ToolError):
        run(gqa_item["instruction"], gqa_item["images"], planner=plain, backend="oracle")
    repairing = LLMPlanner(FakeListChatModel(responses=replies), cache=False,
                           repair_runtime_errors=True)
    result = run(gqa_item["instruction"], gqa_item["images"], planner=repairing, backend="oracle")
    assert tasks.reproduces(gqa_item, result)[0]
    last = repairing.attempts[-1].messages
    assert any("Running that program failed" in text for role, text in last if role == "human")


import visprog  # noqa: E402


def test_run_with_the_default_in_repo_planner(nlvr_item):
    result = run(nlvr_item["instruction"], nlvr_item["images"], task="nlvr", backend="oracle")
    assert result.program.steps and str(result.program).count("Vqa(") >= 1
    assert isinstance(tasks.as_bool(result.value), bool)
