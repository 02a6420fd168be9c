"""visprog tools as LangChain tools, driven by a fake chat model in a tool-calling loop."""

import base64
import io
import itertools
import json

import pytest

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import ValidationError

from visprog.integrations.langchain import (VisualSession, args_schema, image_names,
                                            load_image_ref, visprog_tools)
from visprog.tools import registry

PROGRAM = "BOX0=Loc(image=IMAGE, object='{cat}')\nANSWER0=Count(box=BOX0)\nFINAL=Result(var=ANSWER0)"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from visprog.iconworld import random_scene, save_png
    image, scene = random_scene(11, n_objects=5, categories=["dog", "dog", "cat", "tree"])
    path = tmp_path_factory.mktemp("lc") / "scene.png"
    save_png(image, path)
    category = scene.objects[0].category
    count = sum(o.category == category for o in scene.objects)
    return path, category, count


def _png_base64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _run_loop(model, tools, messages, max_turns=10):
    """The usual agent loop: call the model, run its tool calls, feed ToolMessages back."""
    by_name = {t.name: t for t in tools}
    for _ in range(max_turns):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return reply
        for call in reply.tool_calls:
            result = by_name[call["name"]].invoke(call)  # a ToolCall in gives a ToolMessage out
            assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
            messages.append(result)
    raise AssertionError("the loop did not finish")


def _fake_planner(program_text):
    """An LLMPlanner over a fake chat model when the planners exist; else a plain stand-in."""
    try:
        from visprog.planners import LLMPlanner
    except ImportError:
        try:
            from visprog.planners.llm import LLMPlanner
        except ImportError:
            LLMPlanner = None
    if LLMPlanner is not None:
        chat = GenericFakeChatModel(messages=itertools.repeat(AIMessage(content=program_text)))
        return LLMPlanner(chat)

    class Planner:
        def plan(self, instruction, task=None, inputs=None):
            import visprog
            return visprog.parse(program_text)
    return Planner()


def test_schemas_follow_the_declarations():
    loc = args_schema(registry.lookup("Loc")).model_json_schema()
    assert loc["required"] == ["image", "object"]
    assert loc["properties"]["image"]["type"] == "string"
    classify = args_schema(registry.lookup("Classify")).model_json_schema()
    kinds = {a.get("type") for a in classify["properties"]["categories"]["anyOf"]}
    assert kinds == {"array", "string"}
    lst = args_schema(registry.lookup("List")).model_json_schema()
    assert lst["required"] == ["query"] and lst["properties"]["max"]["default"] == 20
    select = args_schema(registry.lookup("Select")).model_json_schema()
    assert "category" not in select["required"]
    eval_schema = args_schema(registry.lookup("Eval")).model_json_schema()
    assert set(eval_schema["properties"]) == {"expr", "save_as"}  # `variables` is filled in
    with pytest.raises(ValidationError):
        args_schema(registry.lookup("List"))(query="x", max="many")
    names = {t.name for t in visprog_tools()}
    assert {t.name for t in registry} | {"visual_program"} == names


def test_tool_calling_loop_with_fake_chat_model(scene):
    path, category, count = scene
    session = VisualSession(backend="oracle")
    tools = visprog_tools(session)
    human = HumanMessage(content=[
        {"type": "text", "text": f"How many {category}s are there? Crop the first one."},
        {"type": "image", "base64": _png_base64(path), "mime_type": "image/png"}])
    assert session.add_images_from(human) == ["IMAGE"]
    model = GenericFakeChatModel(messages=iter([
        AIMessage(content="", tool_calls=[
            {"name": "Loc", "args": {"image": "IMAGE", "object": category}, "id": "call_1"}]),
        AIMessage(content="", tool_calls=[
            {"name": "Count", "args": {"box": "BOX0"}, "id": "call_2"},
            {"name": "Crop", "args": {"image": "IMAGE", "box": "BOX0", "save_as": "FIRST"}, "id": "call_3"},
            {"name": "Count", "args": {"box": "IMAGE"}, "id": "call_4"},  # a wrong reference
        ]),
        AIMessage(content="", tool_calls=[
            {"name": "Eval", "args": {"expr": "{ANSWER0} * 2"}, "id": "call_5"}]),
        AIMessage(content=f"There are {count}."),
    ]))
    messages = [human]
    final = _run_loop(model, tools, messages)
    assert final.content == f"There are {count}."
    answers = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    loc = json.loads(answers["call_1"].content)
    assert loc["name"] == "BOX0" and loc["kind"] == "Objects" and len(loc["value"]) == count
    assert all(o["label"] == category for o in loc["value"])
    assert json.loads(answers["call_2"].content) == {"name": "ANSWER0", "kind": "int", "value": count}
    crop = json.loads(answers["call_3"].content)
    assert crop["name"] == "FIRST" and crop["kind"] == "Image"
    assert answers["call_4"].status == "error" and "Objects or Points" in answers["call_4"].content
    assert json.loads(answers["call_5"].content)["value"] == count * 2
    assert session.values["FIRST"].size == tuple(crop["value"]["image"])


def test_bad_arguments_come_back_as_error_messages(scene):
    path, category, count = scene
    tools = {t.name: t for t in visprog_tools(VisualSession({"IMAGE": str(path)}, backend="oracle"))}
    reply = tools["Loc"].invoke({"name": "Loc", "args": {"image": "IMAGE"}, "id": "c1",
                                 "type": "tool_call"})
    assert reply.status == "error" and "object" in reply.content
    reply = tools["Count"].invoke({"name": "Count", "args": {"box": "NOPE"}, "id": "c2",
                                   "type": "tool_call"})
    assert reply.status == "error" and "NOPE" in reply.content


def test_visual_program_tool_with_fake_planner(scene, tmp_path):
    path, category, count = scene
    session = VisualSession(backend="oracle", planner=_fake_planner(PROGRAM.format(cat=category)),
                            save_dir=tmp_path)
    tools = visprog_tools(session)
    data_url = "data:image/png;base64," + _png_base64(path)
    model = GenericFakeChatModel(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "visual_program", "id": "v1", "args": {
            "instruction": f"How many {category}s are there?", "images": [data_url]}}]),
        AIMessage(content="", tool_calls=[{"name": "visual_program", "id": "v2", "args": {
            "instruction": f"How many {category}s are there?",
            "images": {"IMAGE": {"type": "image", "source_type": "base64", "mime_type": "image/png",
                                 "data": _png_base64(path)}}}}]),
        AIMessage(content="", tool_calls=[{"name": "visual_program", "id": "v3", "args": {
            "instruction": f"How many {category}s are there?", "images": [str(path)]}}]),
        AIMessage(content="done"),
    ]))
    messages = [HumanMessage(content=f"How many {category}s are there?")]
    _run_loop(model, tools, messages)
    answers = [json.loads(m.content) for m in messages if isinstance(m, ToolMessage)]
    assert len(answers) == 3
    for answer in answers:
        assert answer["value"] == count, answer
        assert "Loc(" in answer["program"] and answer["steps"][0]["module"] == "Loc"


def test_image_references():
    from vqa_double import square_image
    buffer = io.BytesIO()
    square_image(2).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    for ref in ("data:image/png;base64," + data,
                {"type": "image", "base64": data, "mime_type": "image/png"},
                {"type": "image", "source_type": "base64", "data": data, "mime_type": "image/png"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + data}}):
        assert load_image_ref(ref).size == (128, 128)
    from langchain_core.tools import ToolException
    with pytest.raises(ToolException):
        load_image_ref({"type": "image", "url": "https://example.com/x.png"})
    assert image_names(1) == ["IMAGE"] and image_names(2) == ["LEFT", "RIGHT"]
    assert image_names(3) == ["IMAGE0", "IMAGE1", "IMAGE2"]
