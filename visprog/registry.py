"""The tool registry: each tool is declared once, and everything else is derived.

A declaration is a Python function signature with type hints and a docstring:

    @registry.declare(example="BOX0=Loc(image=IMAGE, object='dog')", aliases=("LOC",))
    def Loc(image: Image, object: str) -> Objects:
        '''Find every instance of `object` in the image.'''

From it come the checker's rules (parameter names, required/optional, accepted
value kinds), the planner's module documentation, REPL completion, the docs
page and `visprog tools`. Implementations are *backends* attached to a tool.
Every backend is batch-first: it receives a list of calls (dicts of argument
values) and returns one output per call, so that a batch engine can gather the
same tool's calls across many programs without touching the tool.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Union

from PIL import Image as _PILImage

from .values import Objects, Points

Image = _PILImage.Image
Value = Union[bool, int, float, str]  # what Eval produces
Batch = Callable[[list[dict], "ToolContext"], list]

REQUIRED = inspect.Parameter.empty

# Kinds are the checker's names for value types.
_KIND_OF = {Image: "Image", Objects: "Objects", Points: "Points", str: "str", int: "int",
            float: "float", bool: "bool", type(None): "None", Any: "any"}


def kinds_of(annotation) -> frozenset[str]:
    """The set of kind names an annotation accepts (unions and Optional expand)."""
    if annotation in _KIND_OF:
        return frozenset({_KIND_OF[annotation]})
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return frozenset().union(*(kinds_of(a) for a in typing.get_args(annotation)))
    if origin is list and typing.get_args(annotation) == (str,):
        return frozenset({"list[str]"})
    raise TypeError(f"unsupported annotation in a tool declaration: {annotation!r}")


def value_kind(value: Any) -> str:
    """The kind name of a runtime value (what the checker calls the kind a step produces)."""
    if isinstance(value, _PILImage.Image):
        return "Image"
    if isinstance(value, list) and not isinstance(value, (Objects, Points)):
        return "list[str]" if all(isinstance(v, str) for v in value) else "list"
    return _KIND_OF.get(type(value), "any")


def kind_name(kinds: frozenset[str]) -> str:
    return " | ".join(sorted(kinds))


def compatible(kinds: frozenset[str], accepted: frozenset[str]) -> bool:
    """Whether a value of one of `kinds` may flow where `accepted` kinds are taken."""
    if "any" in kinds or "any" in accepted:
        return True
    widened = kinds | {"float"} if "int" in kinds else kinds  # an int is accepted as a float
    return bool(widened & accepted)


# Characters in one text argument (a question, an object name, a prompt; each text of a
# list), as in an Eval expression: tools parse text, and their time must stay bounded.
MAX_TEXT = 2_000


@dataclass(frozen=True)
class Param:
    name: str
    kinds: frozenset[str]
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def problem(self, value: Any, name: str) -> Optional[str]:
        """What is wrong with run-time `value` (of variable `name`) as this argument: a kind
        the checker could not know (it came through an `any`), or too much text."""
        kind = value_kind(value)
        if not compatible(frozenset({kind}), self.kinds):
            return f"argument '{self.name}' takes {kind_name(self.kinds)}, but {name} is {kind}"
        return self.text_problem(value)

    def text_problem(self, value: Any) -> Optional[str]:
        """What is wrong with `value` as this text argument (over MAX_TEXT characters), else None."""
        if not self.kinds & {"str", "list[str]"}:
            return None
        texts = value if isinstance(value, list) else [value]
        longest = max((len(t) for t in texts if isinstance(t, str)), default=0)
        if longest <= MAX_TEXT:
            return None
        return (f"argument '{self.name}' holds {longest:,} characters of text; "
                f"at most {MAX_TEXT:,}")

    def describe(self) -> str:
        text = f"{self.name}: {kind_name(self.kinds)}"
        return text if self.required else f"{text} = {self.default!r}"


# How a backend comes to run a tool, in the order the default policy tries them
# (visprog/resolver.py): model-free code, an in-repo model whose weights ship, real
# weights a user pointed an environment variable at, a backend someone registered,
# and last the icon world's annotations.
KINDS = ("builtin", "model", "pretrained", "custom", "oracle")


def _nothing_missing() -> Optional[str]:
    return None


@dataclass
class Backend:
    """One implementation of a tool. `run` is a batch function or a "module:function" reference
    imported on first use, so attaching a backend imports none of what it needs."""

    name: str
    run: Union[Batch, str]
    description: str = ""
    # Returns None when usable, else what is missing (package, weights, ...); may be a
    # "module:function" reference too.
    missing: Union[Callable[[], Optional[str]], str] = _nothing_missing
    kind: str = "custom"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"backend kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def problem(self) -> Optional[str]:
        """What keeps this backend from running, or None."""
        return imported(self.missing)()

    def __call__(self, calls: list[dict], ctx: "ToolContext") -> list:
        return imported(self.run)(calls, ctx)


def imported(target: Union[Callable, str]) -> Callable:
    """`target`, or the function a "module:function" reference names (imported now)."""
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass
class Tool:
    name: str
    params: tuple[Param, ...]
    output: frozenset[str]
    doc: str
    example: str
    aliases: tuple[str, ...] = ()
    backends: dict[str, Backend] = field(default_factory=dict)
    # A backend named with `default=True` is tried before the policy's order (visprog/resolver.py).
    default_backend: Optional[str] = None
    # Keyword-only parameters of the declaration are filled by the interpreter, not the
    # program: `variables` receives the program's variables (Eval binds its {VAR}s from it).
    reads_variables: bool = False

    def param(self, name: str) -> Optional[Param]:
        return next((p for p in self.params if p.name == name), None)

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def signature(self) -> str:
        args = ", ".join(p.describe() for p in self.params)
        return f"{self.name}({args}) -> {kind_name(self.output)}"

    def describe(self) -> str:
        """The module documentation given to planners and printed by `visprog tools`."""
        return f"{self.signature()}\n    {inspect.cleandoc(self.doc)}\n    Example: {self.example}"

    def add_backend(self, backend: Backend, *, default: bool = False) -> None:
        self.backends[backend.name] = backend
        if default:
            self.default_backend = backend.name

    def backend(self, name: str, *, default: bool = False, description: str = "",
                missing: Optional[Callable[[], Optional[str]]] = None, kind: str = "custom"):
        """Decorator that attaches a batch implementation `fn(calls, ctx) -> outputs`."""
        def attach(fn: Batch) -> Batch:
            self.add_backend(Backend(name, fn, description or (fn.__doc__ or "").strip(),
                                     missing or _nothing_missing, kind), default=default)
            return fn
        return attach


def per_call(fn: Callable) -> Batch:
    """Turn a one-call implementation into a batch one: a single call is a batch of one."""
    def run(calls: list[dict], ctx: "ToolContext") -> list:
        return [fn(**call) for call in calls]
    run.__doc__ = fn.__doc__
    return run


def declare(*, example: str, aliases: tuple[str, ...] = ()):
    """Decorator: a Tool from a typed signature and docstring (the body is not used)."""
    def wrap(fn: Callable) -> Tool:
        hints = typing.get_type_hints(fn)
        signature = inspect.signature(fn).parameters.values()
        params = tuple(Param(p.name, kinds_of(hints[p.name]), p.default)
                       for p in signature if p.kind is not p.KEYWORD_ONLY)
        context = {p.name for p in signature if p.kind is p.KEYWORD_ONLY}
        if context - {"variables"}:
            raise TypeError(f"{fn.__name__}: unknown context parameters {context - {'variables'}}")
        return Tool(fn.__name__, params, kinds_of(hints["return"]), fn.__doc__ or "",
                    example, tuple(aliases), reads_variables="variables" in context)
    return wrap


def builtin(*, example: str, aliases: tuple[str, ...] = ()):
    """Decorator: a Tool whose body is its per-call 'builtin' implementation."""
    def wrap(fn: Callable) -> Tool:
        tool = declare(example=example, aliases=aliases)(fn)
        tool.backend("builtin", description="built in, needs no model", kind="builtin")(per_call(fn))
        return tool
    return wrap


class Registry:
    def __init__(self, tools: Iterable[Tool] = ()):
        self.tools: dict[str, Tool] = {}
        self._names: dict[str, str] = {}  # lower-case name or alias -> canonical name
        for tool in tools:
            self.add(tool)

    def declare(self, *, example: str, aliases: tuple[str, ...] = ()):
        """Decorator: declare a tool into this registry (see `declare`)."""
        def wrap(fn: Callable) -> Tool:
            tool = declare(example=example, aliases=aliases)(fn)
            self.add(tool)
            return tool
        return wrap

    def tool(self, *, example: str, aliases: tuple[str, ...] = ()):
        """Decorator: declare a tool with its builtin implementation into this registry."""
        def wrap(fn: Callable) -> Tool:
            tool = builtin(example=example, aliases=aliases)(fn)
            self.add(tool)
            return tool
        return wrap

    def add(self, tool: Tool) -> None:
        for name in (tool.name, *tool.aliases):
            key = name.lower()
            if key in self._names and self._names[key] != tool.name:
                raise ValueError(f"tool name {name!r} is already taken by {self._names[key]}")
            self._names[key] = tool.name
        self.tools[tool.name] = tool

    def lookup(self, name: str) -> Optional[Tool]:
        """Case-insensitive lookup by canonical name or alias."""
        canonical = self._names.get(name.lower())
        return self.tools.get(canonical) if canonical else None

    def closest(self, name: str) -> Optional[str]:
        """The canonical name most like `name`, for 'did you mean' messages."""
        match = difflib.get_close_matches(name.lower(), list(self._names), n=1, cutoff=0.5)
        return self._names[match[0]] if match else None

    def __iter__(self):
        return iter(self.tools.values())

    def __contains__(self, name: str) -> bool:
        return self.lookup(name) is not None

    def copy(self) -> "Registry":
        """An independent registry (tools and backend tables copied), e.g. for test doubles."""
        return Registry(dataclasses.replace(tool, backends=dict(tool.backends)) for tool in self)

    @property
    def version(self) -> str:
        """Changes whenever a declaration changes: planners key their caches on it."""
        import hashlib
        text = "\n".join(t.describe() for t in sorted(self, key=lambda t: t.name))
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def documentation(self) -> str:
        return "\n\n".join(t.describe() for t in self)


@dataclass
class ToolContext:
    """What the interpreter hands a backend besides the calls."""

    cache: "ImageCache"
    notes: dict[int, list[str]] = field(default_factory=dict)  # call index -> rationale notes
    warnings: dict[int, list[str]] = field(default_factory=dict)  # call index -> warnings

    def note(self, index: int, text: str) -> None:
        """Explain, in the rationale, how call `index` reached its answer."""
        self.notes.setdefault(index, []).append(text)

    def warn(self, index: int, text: str) -> None:
        """Tell the user that call `index`'s answer may not hold (e.g. its image is unlike
        what the model was trained on). The run goes on; the interpreter names the step and
        its images, and every door shows the warning (`Result.warnings`)."""
        said = self.warnings.setdefault(index, [])
        text = " ".join(text.split())  # one line, as stderr and results files show it
        if text not in said:
            said.append(text)


class ImageCache:
    """Per-run cache keyed by image content, so features computed once are reused by later steps."""

    def __init__(self):
        self._store: dict[tuple[str, str], Any] = {}
        # id -> (image, digest): a batch often passes one image object many times (NLVR asks
        # several questions of LEFT); hash it once. Holding the image keeps its id unique.
        self._digests: dict[int, tuple[Image, str]] = {}

    @staticmethod
    def digest(image: Image) -> str:
        import hashlib
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{image.mode}{image.size}".encode())
        h.update(image.tobytes())
        return h.hexdigest()

    def _slot(self, image: Image, key: str) -> tuple[str, str]:
        seen = self._digests.get(id(image))
        if seen is None or seen[0] is not image:
            seen = self._digests[id(image)] = (image, self.digest(image))
        return seen[1], key

    def get(self, image: Image, key: str, compute: Callable[[], Any]) -> Any:
        slot = self._slot(image, key)
        if slot not in self._store:
            self._store[slot] = compute()
        return self._store[slot]

    def get_batch(self, images: list, key: str, compute: Callable[[list], list]) -> list:
        """Each image's value under `key`; the images not cached yet go to `compute` (images ->
        one value each) in one call, each distinct image once."""
        slots = [self._slot(im, key) for im in images]
        todo: dict[tuple[str, str], Image] = {}
        for slot, im in zip(slots, images):
            if slot not in self._store:
                todo.setdefault(slot, im)
        if todo:
            self._store.update(zip(todo, compute(list(todo.values()))))
        return [self._store[slot] for slot in slots]


def image_cache(ctx: Optional[ToolContext]) -> ImageCache:
    """ctx's per-run image cache; a throwaway one without a ctx (crops that are asked once)."""
    return ctx.cache if ctx is not None else ImageCache()
