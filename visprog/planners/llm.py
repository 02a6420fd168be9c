"""LLMPlanner: any LangChain chat model (or a plain `str -> str` function) writes the program.

    planner = LLMPlanner(ChatOpenAI(...))           # or LLMPlanner(LocalPlanner())
    program = planner.plan("Is there a dog left of the car?", task="gqa")

The prompt is generated: the rules of the language, `registry.documentation()`
(every tool's signature, doc and example, from its declaration) and the
in-context examples most similar to the instruction (MiniLM), then the
instruction and the input image names. Every candidate goes through `parse`
and `check` before anything runs; on failure the model is asked again with the
diagnostics (up to `retries` more rounds), and with `samples > 1` several
candidates are drawn per round and the first valid one is kept. When no
candidate is valid, `PlannerError.attempts` holds every attempt with its
diagnostics. `repair()` feeds a runtime error back once (used by `visprog.run`
when `repair_runtime_errors=True`). Programs are cached by instruction, task,
inputs, planner and registry version, in memory (LRU) and, given a folder, on disk.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from ..checker import Diagnostic, check
from ..errors import PlannerError, ProgramError, VisprogError
from ..program import Program, parse
from .mentions import warn_unmentioned
from .examples import Example
from .select import nearest_examples
from .tasks import INPUTS, detect_task

RULES = """You write programs in visprog, a small language for answering questions about images and editing them.
A program has one step per line: OUTPUT=Module(arg=value, ...).
- Use only the modules listed below, with their argument names.
- A value is a variable (an input image or an earlier step's output), a string in quotes, a number, True, False, None or a list of strings.
- Define every variable before using it; give each step a new output name (BOX0, IMAGE0, ANSWER0, OBJ0, LIST0, FINAL, ...).
- Eval expressions refer to earlier answers as {ANSWER0}.
- End with FINAL=Result(var=...) naming the answer.
Reply with the program only: no explanation, no code fences."""


@dataclass
class Attempt:
    """One candidate program and what was wrong with it (empty diagnostics: valid)."""

    round: int
    reply: str
    program: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    messages: list = field(default_factory=list)  # the prompt, as (role, text) pairs

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def __str__(self) -> str:
        lines = "\n".join(f"    {d}" for d in self.diagnostics if d.severity == "error")
        return f"attempt {self.round}:\n  {self.program or self.reply!r}\n{lines}".rstrip()


def extract_program(reply: str) -> str:
    """The program in a model's reply: inside a code fence when there is one, else the lines
    that look like steps (prose before and after is dropped; comments are kept)."""
    text = reply.replace("\r\n", "\n")
    fence = re.search(r"```[a-zA-Z]*\n(.*?)```", text, re.S)
    if fence:
        text = fence.group(1)
    lines = text.split("\n")
    steps = [i for i, line in enumerate(lines) if _STEP.match(line)]
    if not steps:
        return text.strip()
    return "\n".join(lines[steps[0]:steps[-1] + 1]).strip()


_STEP = re.compile(r"^\s*[A-Za-z_]\w*\s*=\s*[A-Za-z_]\w*\s*\(")


def format_example(example: Example) -> str:
    return f"{request_text(example.instruction, example.inputs, example.task)}\n{example.program}"


def request_text(instruction: str, inputs: Sequence[str], task: Optional[str] = None) -> str:
    task_line = f"Task: {task}\n" if task else ""
    one_line = " ".join(instruction.split())  # a request is three lines, whatever the instruction
    return f"Instruction: {one_line}\n{task_line}Images: {', '.join(inputs)}\nProgram:"


MAX_INSTRUCTION = 2_000  # characters: a few sentences; bounds the planner's time


def check_instruction(instruction) -> str:
    """The instruction, or PlannerError when it is not a string or is empty."""
    if not isinstance(instruction, str):
        raise PlannerError(f"an instruction is a string, got {type(instruction).__name__}")
    if not instruction.strip():
        raise PlannerError("the instruction is empty: say what to find out about the images")
    if len(instruction) > MAX_INSTRUCTION:
        raise PlannerError(f"the instruction is {len(instruction):,} characters long; at most "
                           f"{MAX_INSTRUCTION:,}")
    return instruction


def _diagnostics(text: str, registry, inputs) -> list[Diagnostic]:
    try:
        program = parse(text)
    except ProgramError as exc:
        return [Diagnostic(exc.line or 1, exc.column or 1, "error", exc.message)]
    return check(program, registry, inputs=inputs)


def program_for(instruction: str, text: str) -> Program:
    """The program in a planner's checked `text`, with its warnings about what the instruction
    does not name (planners/mentions.py)."""
    return warn_unmentioned(instruction, parse(text))


class LLMPlanner:
    """Plans programs with a chat model; see the module docstring."""

    def __init__(self, chat_model: Any, *, examples: Optional[Sequence[Example]] = None,
                 retries: int = 2, samples: int = 1, repair_runtime_errors: bool = False,
                 cache: Union[bool, str, Path] = True, k: int = 4, registry=None,
                 name: Optional[str] = None, cache_size: int = 256):
        if retries < 0 or samples < 1:
            raise ValueError("retries must be >= 0 and samples >= 1")
        self.model = chat_model
        self.examples = list(examples) if examples is not None else None
        self.retries = retries
        self.samples = samples
        self.repair_runtime_errors = repair_runtime_errors
        self.k = k
        self._registry = registry
        self.name = name or _model_name(chat_model)
        self.cache_enabled = bool(cache)
        self.cache_dir = Path(cache) if isinstance(cache, (str, Path)) else None
        self.cache_size = cache_size
        self._memory: "OrderedDict[str, str]" = OrderedDict()
        self.attempts: list[Attempt] = []  # of the last plan() call
        self.calls = 0  # model calls made (cache hits make none)

    @property
    def registry(self):
        if self._registry is None:
            from ..tools import registry
            return registry
        return self._registry

    # -- prompts --

    def system_prompt(self) -> str:
        return f"{RULES}\n\nModules:\n\n{self.registry.documentation()}"

    def choose_examples(self, instruction: str, task: str) -> list[Example]:
        if self.k <= 0:
            return []
        return [e for e, _ in nearest_examples(instruction, self.k, self.examples, task=task)]

    def messages(self, instruction: str, task: str, inputs: Sequence[str]) -> list[tuple[str, str]]:
        shown = self.choose_examples(instruction, task)
        body = "".join(f"{format_example(e)}\n\n" for e in shown)
        human = (f"Examples:\n\n{body}" if body else "") + request_text(instruction, inputs, task)
        return [("system", self.system_prompt()), ("human", human)]

    # -- planning --

    def plan(self, instruction: str, *, task: Optional[str] = None,
             inputs: Optional[Iterable[str]] = None) -> Program:
        """A program for `instruction` that parses and checks, or PlannerError."""
        return program_for(instruction, self.plan_text(instruction, task=task, inputs=inputs))

    def plan_text(self, instruction: str, *, task: Optional[str] = None,
                  inputs: Optional[Iterable[str]] = None) -> str:
        task, inputs, key = self._request(instruction, task, inputs)
        cached = self._cache_get(key)
        if cached is not None:
            self.attempts = []
            return cached
        text = self._search(self.messages(instruction, task, inputs), instruction, inputs, task=task)
        self._cache_put(key, text)
        return text

    def plan_batch(self, instructions: Sequence[str], *, tasks: Optional[Sequence] = None,
                   inputs: Optional[Sequence] = None) -> list[Union[Program, PlannerError]]:
        """`plan` for many instructions (`tasks`, `inputs`: one per instruction, or None), a
        PlannerError in place of any that fails. The first round goes to the model as one
        batch (a `chat_batch` method, a chat model's `batch`, else one call each), one
        candidate per instruction; a candidate that does not check goes on to `plan`'s
        repair rounds."""
        n = len(instructions)
        out: list = [None] * n
        asks = []  # (index, instruction, task, inputs, cache key, messages)
        for i, (instruction, task, names) in enumerate(zip(instructions, tasks or [None] * n,
                                                           inputs or [None] * n)):
            try:
                task, names, key = self._request(instruction, task, names)
            except PlannerError as exc:
                out[i] = exc
                continue
            cached = self._cache_get(key)
            if cached is not None:
                out[i] = program_for(instruction, cached)
            else:
                asks.append((i, instruction, task, names, key,
                             self.messages(instruction, task, names)))
        try:
            replies = [[reply] for reply in self._ask_batch([ask[-1] for ask in asks])]
        except PlannerError:  # ask each alone, so that each failure names its own item
            replies = [None] * len(asks)
        for (i, instruction, task, names, key, messages), first in zip(asks, replies):
            try:
                text = self._search(messages, instruction, names, task=task, first=first)
            except PlannerError as exc:
                out[i] = exc
                continue
            self._cache_put(key, text)
            out[i] = program_for(instruction, text)
        return out

    def repair(self, instruction: str, program: Union[Program, str], error: BaseException, *,
               task: Optional[str] = None, inputs: Optional[Iterable[str]] = None) -> Program:
        """One more try after `program` failed at run time with `error`."""
        task, inputs, key = self._request(instruction, task, inputs)
        messages = self.messages(instruction, task, inputs)
        messages += [("ai", str(program)),
                     ("human", f"Running that program failed:\n{error}\n\nWrite a corrected program "
                               f"for the same instruction.\n{request_text(instruction, inputs, task)}")]
        text = self._search(messages, instruction, inputs, rounds=1, task=task)
        self._cache_put(key, text)
        return program_for(instruction, text)

    def _request(self, instruction: str, task: Optional[str], inputs: Optional[Iterable[str]]
                 ) -> tuple[str, tuple[str, ...], str]:
        """(task, input names, cache key) of a request, defaults filled; PlannerError for an
        instruction that is not a non-empty string."""
        check_instruction(instruction)
        task = task or detect_task(instruction)
        inputs = tuple(inputs) if inputs is not None else INPUTS.get(task, ("IMAGE",))
        return task, inputs, self._key(instruction, task, inputs)

    def _search(self, messages: list, instruction: str, inputs: Sequence[str],
                rounds: Optional[int] = None, task: Optional[str] = None,
                first: Optional[list[str]] = None) -> str:
        """Ask, check and repair, up to `rounds` rounds; `first`: the first round's replies,
        when they were asked already (`plan_batch`)."""
        self.attempts = []
        rounds = self.retries + 1 if rounds is None else rounds
        for round_ in range(1, rounds + 1):
            replies = first if round_ == 1 and first is not None else self._ask(messages, self.samples)
            first_bad = None
            for reply in replies:
                text = extract_program(reply)
                diagnostics = _diagnostics(text, self.registry, inputs)
                attempt = Attempt(round_, reply, text, diagnostics, list(messages))
                self.attempts.append(attempt)
                if attempt.valid:
                    return text
                first_bad = first_bad or attempt
            messages = messages + [("ai", first_bad.reply), ("human", self._repair_request(
                first_bad, instruction, inputs, task))]
        summary = "\n".join(str(a) for a in self.attempts)
        raise PlannerError(f"no valid program for {instruction!r} after {len(self.attempts)} "
                           f"attempt(s):\n{summary}", self.attempts)

    @staticmethod
    def _repair_request(attempt: Attempt, instruction: str, inputs: Sequence[str],
                        task: Optional[str] = None) -> str:
        problems = "\n".join(str(d) for d in attempt.diagnostics if d.severity == "error")
        return (f"That program has problems:\n{problems}\n\nWrite the whole corrected program, "
                f"using only the listed modules and defined variables.\n"
                f"{request_text(instruction, inputs, task)}")

    def _ask(self, messages: list[tuple[str, str]], n: int) -> list[str]:
        """n replies from the model; whatever the model raises comes out as PlannerError."""
        self.calls += n
        try:
            return self._replies(messages, n)
        except PlannerError:
            raise
        except Exception as exc:  # a model or a callable failing is the planner failing
            raise PlannerError(f"the planner {self.name} failed: {error_line(exc)}") from exc

    def _ask_batch(self, conversations: list[list[tuple[str, str]]]) -> list[str]:
        """One reply to each conversation, asked together where the model can batch."""
        if not conversations:
            return []
        model = self.model
        self.calls += len(conversations)
        try:
            if _is_chat_model(model):
                return [_content(m) for m in model.batch([to_langchain(c) for c in conversations])]
            if hasattr(model, "chat_batch"):
                return [str(r) for r in model.chat_batch(conversations)]
            return [self._replies(c, 1)[0] for c in conversations]
        except Exception as exc:  # a model or a callable failing is the planner failing
            raise PlannerError(f"the planner {self.name} failed: {error_line(exc)}") from exc

    def _replies(self, messages: list[tuple[str, str]], n: int) -> list[str]:
        model = self.model
        if _is_chat_model(model):
            lc = to_langchain(messages)
            if n == 1:
                return [_content(model.invoke(lc))]
            return [_content(m) for m in model.batch([lc] * n)]
        if hasattr(model, "chat"):  # visprog's own models take the (role, text) pairs as they are
            return [str(model.chat(messages)) for _ in range(n)]
        text = "\n\n".join(f"{_ROLE_TITLES[role]}:\n{body}" if role != "system" else body
                           for role, body in messages)
        return [str(model(text)) for _ in range(n)]

    # -- cache --

    def _key(self, instruction: str, task: str, inputs: Sequence[str]) -> str:
        examples = hashlib.sha1(json.dumps([(e.instruction, e.program) for e in self.examples]
                                           ).encode()).hexdigest()[:8] if self.examples else "default"
        return json.dumps([instruction, task, list(inputs), self.name, examples,
                           self.registry.version])

    def _cache_get(self, key: str) -> Optional[str]:
        if not self.cache_enabled:
            return None
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        if self.cache_dir is not None:
            path = self.cache_dir / (hashlib.sha1(key.encode()).hexdigest() + ".json")
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                if entry.get("key") == key:
                    self._remember(key, entry["program"])
                    return entry["program"]
            except (OSError, ValueError, KeyError):
                return None
        return None

    def _cache_put(self, key: str, text: str) -> None:
        if not self.cache_enabled:
            return
        self._remember(key, text)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            path = self.cache_dir / (hashlib.sha1(key.encode()).hexdigest() + ".json")
            path.write_text(json.dumps({"key": key, "program": text}), encoding="utf-8")

    def _remember(self, key: str, text: str) -> None:
        self._memory[key] = text
        self._memory.move_to_end(key)
        while len(self._memory) > self.cache_size:
            self._memory.popitem(last=False)

    def clear_cache(self) -> None:
        self._memory.clear()


_ROLE_TITLES = {"human": "User", "ai": "Assistant", "system": "System"}


def error_line(exc: BaseException) -> str:
    """`Type: message` on one line (a VisprogError's message alone), at most 300 characters."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, VisprogError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:300] + "..." if len(text) > 300 else text


def _is_chat_model(model: Any) -> bool:
    if "langchain_core" not in sys.modules:  # nothing can be a LangChain model; skip the import
        return False
    try:
        from langchain_core.language_models import BaseLanguageModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, BaseLanguageModel)


def to_langchain(messages: list[tuple[str, str]]) -> list:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    kinds = {"system": SystemMessage, "human": HumanMessage, "ai": AIMessage}
    return [kinds[role](content=body) for role, body in messages]


def _content(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(c.get("text", "") if isinstance(c, dict) else str(c) for c in content)
    return str(content)


def _model_name(model: Any) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return f"{type(model).__name__}:{value}"
    identity = getattr(model, "identity", None)
    if isinstance(identity, str):
        return identity
    return f"{type(model).__module__}.{getattr(model, '__qualname__', type(model).__qualname__)}"
