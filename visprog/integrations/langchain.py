"""visprog's tools as LangChain tools.

    from visprog.integrations.langchain import VisualSession, visprog_tools

    session = VisualSession({"IMAGE": "street.png"}, backend="oracle")
    tools = visprog_tools(session)             # Loc, Vqa, Crop, ..., and visual_program
    model = ChatOpenAI(model="gpt-4o").bind_tools(tools)

Every registered tool becomes a `BaseTool` whose argument schema is generated
from the tool's declaration: images, objects and points are passed *by name*,
as references to values held in the `VisualSession` (input images, and every
earlier call's output, stored under a name the tool's answer gives back);
strings, numbers, booleans and string lists are passed as such. Answers are
JSON text: the output's name, its kind, a JSON-friendly view of its value, and the
backend's notes and warnings when it gave any (`visual_program`: `Result.warnings`).

Backends are chosen as `visprog.execute` chooses them (`visprog.resolver`): the
session's `backend`, else `VISPROG_BACKEND`, else the default policy.
`visual_program` runs the whole of `visprog.run`: a planner writes a program for
an instruction and the interpreter runs it on the given images. Images may be
session names, file paths, `data:` URLs, or LangChain image content blocks
(`{"type": "image", "base64": ..., "mime_type": ...}`, the older
`{"type": "image", "source_type": "base64", "data": ...}`, or OpenAI's
`{"type": "image_url", "image_url": {"url": "data:..."}}`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any, Optional, Union

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..api import run
from ..errors import VisprogError
from ..registry import Registry, value_kind
from ..resolver import current_choice, resolve_tool
from ..values import jsonable

REFERENCE_KINDS = {"Image", "Objects", "Points"}
_PREFIX = {"Image": "IMAGE", "Objects": "BOX", "Points": "POINTS", "list[str]": "LIST"}
_PY = {"str": str, "int": int, "float": float, "bool": bool, "None": type(None),
       "list[str]": list[str]}
ImageRef = Union[str, dict[str, Any]]


# --- the session store ---------------------------------------------------------------------

class VisualSession:
    """Named values (images and earlier outputs) shared by the tools of one conversation."""

    def __init__(self, images: Optional[dict[str, Any]] = None, *, registry: Optional[Registry] = None,
                 backend: Union[None, str, dict] = None, planner: Any = None, task: Optional[str] = None,
                 save_dir: Union[None, str, Path] = None):
        if registry is None:
            from ..tools import default_registry
            registry = default_registry()
        self.registry = registry
        current_choice(backend, registry)  # a misspelled backend fails here, not at first use
        self.backend = backend
        self.planner = planner
        self.task = task
        self.save_dir = Path(save_dir) if save_dir else None
        self.values: dict[str, Any] = {}
        for name, source in (images or {}).items():
            self.add_image(source, name)

    def add_image(self, source: Any, name: Optional[str] = None) -> str:
        """Store an image (path, data URL, content block, PIL image, bytes) and return its name."""
        image = load_image_ref(source, self.values, name or "image")
        return self.store(image, name=name, kind="Image")

    def add_images_from(self, message: Any) -> list[str]:
        """Store the images of a chat message's content blocks as IMAGE, IMAGE1, ...; their names."""
        content = getattr(message, "content", message)
        blocks = content if isinstance(content, list) else []
        names = []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") in ("image", "image_url"):
                name = "IMAGE" if "IMAGE" not in self.values else self.fresh_name("IMAGE")
                names.append(self.add_image(block, name))
        return names

    def fresh_name(self, prefix: str) -> str:
        n = 0
        while f"{prefix}{n}" in self.values:
            n += 1
        return f"{prefix}{n}"

    def store(self, value: Any, name: Optional[str] = None, kind: Optional[str] = None) -> str:
        if name is None:
            name = self.fresh_name(_PREFIX.get(kind or value_kind(value), "ANSWER"))
        if not name.isidentifier():
            raise ToolException(f"{name!r} is not a valid name (letters, digits and _)")
        self.values[name] = value
        return name

    def resolve(self, ref: Any, kinds: frozenset[str], param: str) -> Any:
        """The value an argument refers to: a stored name, or for images also a path/data/block."""
        if isinstance(ref, str) and ref in self.values:
            value = self.values[ref]
            actual = value_kind(value)
            if "any" not in kinds and actual not in kinds and not (actual == "int" and "float" in kinds):
                raise ToolException(f"argument '{param}' takes {' or '.join(sorted(kinds))}, "
                                    f"but {ref} is {actual}")
            return value
        if "Image" in kinds and (isinstance(ref, dict) or (isinstance(ref, str) and _looks_like_source(ref))):
            return load_image_ref(ref, self.values, param)
        if kinds & REFERENCE_KINDS and not (kinds - REFERENCE_KINDS) & {"str", "any", "list[str]"}:
            known = [n for n, v in self.values.items() if value_kind(v) in kinds]
            raise ToolException(f"argument '{param}': no {'/'.join(sorted(kinds & REFERENCE_KINDS))} "
                                f"named {ref!r}; known: {', '.join(known) or 'none yet'}")
        return ref

    def describe(self, name: str) -> dict:
        value = self.values[name]
        out = {"name": name, "kind": value_kind(value), "value": jsonable(value)}
        if value_kind(value) == "Image" and self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            path = self.save_dir / f"{name}.png"
            value.convert("RGB").save(path)
            out["path"] = str(path)
        return out


_DATA_URL = re.compile(r"data:(image/[\w.+-]+)?(;[\w=-]+)*;base64,(.*)", re.S)


def _looks_like_source(ref: str) -> bool:
    return ref.startswith("data:") or "/" in ref or "\\" in ref or "." in ref


def _decode(data: str, where: str) -> bytes:
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ToolException(f"{where}: bad base64 image data ({exc})") from None


def load_image_ref(ref: Any, values: Optional[dict] = None, name: str = "image"):
    """A PIL image from a session name, path, data URL, content block, bytes or PIL image."""
    from ..images import load_image
    values = values or {}
    if isinstance(ref, str) and ref in values:
        return values[ref]
    source: Any = ref
    if isinstance(ref, dict):
        kind = ref.get("type")
        if kind == "image_url":
            url = ref.get("image_url")
            source = url.get("url") if isinstance(url, dict) else url
        elif ref.get("source_type") == "base64" or (kind == "image" and "data" in ref):
            source = _decode(ref.get("data", ""), name)
        elif kind == "image" and ref.get("base64"):
            source = _decode(ref["base64"], name)
        elif kind == "image" and ref.get("url"):
            source = ref["url"]
        elif ref.get("source_type") in ("url",) and ref.get("url"):
            source = ref["url"]
        else:
            raise ToolException(f"{name}: unsupported image block (keys {sorted(ref)}); give "
                                "base64 data, a data: URL or a path")
    if isinstance(source, str):
        match = _DATA_URL.match(source)
        if match:
            source = _decode(match.group(3), name)
        elif source.startswith(("http://", "https://")):
            raise ToolException(f"{name}: cannot fetch {source[:60]}; give the image as base64 data")
    try:
        return load_image(source, name)
    except VisprogError as exc:
        raise ToolException(str(exc)) from None


# --- one LangChain tool per registered tool --------------------------------------------------

def _annotation(kinds: frozenset[str]):
    """The Python type of an argument in the schema: references are strings."""
    types = []
    for kind in sorted(kinds):
        if kind in REFERENCE_KINDS:
            t = str
        elif kind == "any":
            t = Union[str, int, float, bool, list[str]]
        else:
            t = _PY[kind]
        if t not in types:
            types.append(t)
    return types[0] if len(types) == 1 else Union[tuple(types)]


def _param_description(param) -> str:
    kinds = param.kinds
    if "Image" in kinds:
        return "name of an image in the session (an input image or an earlier output), or a file path / data: URL"
    if kinds & REFERENCE_KINDS:
        return (f"name of an earlier call's output of kind {' or '.join(sorted(kinds & REFERENCE_KINDS))}"
                " (e.g. 'BOX0')")
    if "list[str]" in kinds:
        return "a list of strings, or the name of a list returned by an earlier call"
    if "any" in kinds:
        return "a value, or the name of an earlier output"
    words = {"str": "text", "int": "an integer", "float": "a number", "bool": "true or false",
             "None": "null"}
    text = " or ".join(words.get(k, k) for k in sorted(kinds))
    return text if param.required else f"{text} (default {param.default!r})"


def validation_message(error: Exception) -> str:
    """What the model sees when its arguments do not fit the schema."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors()]
        return "invalid arguments: " + "; ".join(parts)
    return f"invalid arguments: {error}"


def args_schema(tool) -> type[BaseModel]:
    """A pydantic model for the tool's arguments, from its declaration."""
    fields: dict[str, Any] = {}
    for param in tool.params:
        annotation = _annotation(param.kinds)
        default = ... if param.required else param.default
        field_name = f"{param.name}_" if hasattr(BaseModel, param.name) else param.name
        fields[field_name] = (annotation, Field(default, alias=param.name if field_name != param.name else None,
                                                description=_param_description(param)))
    if tool.reads_variables:
        pass  # filled from the session, never by the caller
    fields["save_as"] = (Optional[str], Field(None, description="name to store the output under "
                                              "(default: a fresh name such as BOX0 or ANSWER1)"))
    return create_model(f"{tool.name}Args", __config__=ConfigDict(populate_by_name=True), **fields)


class VisprogTool(BaseTool):
    """One registered visprog tool, run on the session's values with the session's backend."""

    session: Any
    tool: Any
    handle_tool_error: Any = True
    handle_validation_error: Any = validation_message

    def _run(self, save_as: Optional[str] = None, run_manager: Any = None, **kwargs: Any) -> str:
        from ..interpreter import Call, run_calls
        from ..program import Step
        from ..registry import ImageCache
        tool, session = self.tool, self.session
        args = {p.name: p.default for p in tool.params if not p.required}
        for key, value in kwargs.items():
            name = key[:-1] if key.endswith("_") and tool.param(key[:-1]) else key
            param = tool.param(name)
            if param is None:
                continue
            if isinstance(value, list) and "list[str]" in param.kinds:
                args[name] = list(value)
            else:
                args[name] = session.resolve(value, param.kinds, name)
        if tool.reads_variables:
            args["variables"] = session.values
        try:
            images = {k: v for k, v in args.items() if value_kind(v) == "Image"}
            chosen = resolve_tool(tool, images, *current_choice(session.backend, session.registry))
            step = Step(save_as or "OUTPUT", tool.name, (), line=1, text=f"{tool.name}(...)")
            call = Call(step, tool, chosen.backend, args, chosen.reason)
            output = run_calls([call], ImageCache())[0]
        except VisprogError as exc:
            raise ToolException(str(exc)) from None
        name = session.store(output.value, name=save_as)
        answer = session.describe(name)
        if output.notes:
            answer["notes"] = output.notes
        if output.warnings:
            answer["warnings"] = output.warnings
        return json.dumps(answer)


def tool_description(tool) -> str:
    import inspect
    text = inspect.cleandoc(tool.doc)
    return (f"{text}\nSignature: {tool.signature()}\nExample in a program: {tool.example}\n"
            "Images, objects and points are passed by name; the answer is JSON with the output's "
            "name, kind and value, and the backend's warnings when it has any.")


def make_tool(tool, session: VisualSession) -> VisprogTool:
    return VisprogTool(name=tool.name, description=tool_description(tool), args_schema=args_schema(tool),
                       session=session, tool=tool)


# --- the whole of visprog.run as one tool ----------------------------------------------------

class VisualProgramArgs(BaseModel):
    instruction: str = Field(description="what to find out or do with the images, in plain words "
                                         "(a question, a statement to verify, or an edit)")
    images: Union[list[ImageRef], dict[str, ImageRef], None] = Field(
        None, description="the images: session names, file paths, data: URLs or image content "
                          "blocks; a dict gives each its program name (e.g. LEFT, RIGHT). "
                          "Default: the session's input images")
    task: Optional[str] = Field(None, description="optional task hint (e.g. 'gqa', 'nlvr', 'edit')")


def image_names(count: int) -> list[str]:
    """Program names for `count` images: IMAGE; LEFT, RIGHT; or IMAGE0, IMAGE1, ..."""
    if count == 1:
        return ["IMAGE"]
    if count == 2:
        return ["LEFT", "RIGHT"]
    return [f"IMAGE{i}" for i in range(count)]


class VisualProgramTool(BaseTool):
    """Plan a visual program for an instruction and run it: `visprog.run` as one tool."""

    name: str = "visual_program"
    description: str = (
        "Answer a question about images, verify a statement about them, or edit them, by writing "
        "and running a short visual program (object detection, cropping, counting, VQA, logic). "
        "Returns JSON with the answer ('value'), the program that ran, warnings about the "
        "run and each step's output.")
    args_schema: Any = VisualProgramArgs
    session: Any
    handle_tool_error: Any = True
    handle_validation_error: Any = validation_message

    def _run(self, instruction: str, images: Any = None, task: Optional[str] = None,
             run_manager: Any = None) -> str:
        session = self.session
        if images is None:
            named = {n: v for n, v in session.values.items() if value_kind(v) == "Image"}
            if not named:
                raise ToolException("no images: pass `images` or add images to the session")
            if len(named) > 2 and "IMAGE" in named:
                named = {"IMAGE": named["IMAGE"]}
        elif isinstance(images, dict):
            named = {n: load_image_ref(ref, session.values, n) for n, ref in images.items()}
        else:
            refs = list(images)
            named = {n: load_image_ref(ref, session.values, n)
                     for n, ref in zip(image_names(len(refs)), refs)}
        try:
            result = run(instruction, named, planner=session.planner, task=task or session.task,
                         backend=session.backend, registry=session.registry)
        except VisprogError as exc:  # with what the run warned before it failed, as the CLI prints
            raise ToolException("\n".join([str(exc), *(f"warning: {w}" for w in exc.warnings)])) from None
        name = session.store(result.value, kind=value_kind(result.value))
        answer = session.describe(name)
        return json.dumps({
            "value": answer["value"], "name": name, "kind": answer["kind"],
            **({"path": answer["path"]} if "path" in answer else {}),
            "program": str(result.program), "warnings": result.warnings,
            "steps": result.to_json()["steps"]})


def visprog_tools(session: Optional[VisualSession] = None, *, tools: Optional[list[str]] = None,
                  program_tool: bool = True, **session_kwargs) -> list[BaseTool]:
    """LangChain tools for every registered tool (or those named), plus `visual_program`."""
    session = session or VisualSession(**session_kwargs)
    wanted = None if tools is None else {t.lower() for t in tools}
    out: list[BaseTool] = [make_tool(t, session) for t in session.registry
                           if wanted is None or t.name.lower() in wanted]
    if program_tool:
        out.append(VisualProgramTool(session=session))
    return out


__all__ = ["VisualSession", "VisprogTool", "VisualProgramTool", "visprog_tools", "make_tool",
           "args_schema", "load_image_ref", "image_names"]
