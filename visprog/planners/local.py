"""The in-repo planner model as a LangChain chat model, so `LLMPlanner` serves it like any other.

    from visprog.planners.local import LocalPlannerChat, local_planner
    planner = local_planner()                       # LLMPlanner(LocalPlannerChat())
    planner.plan("The left image shows two dogs.")

`LocalPlannerChat._generate` reads the instruction and the image names from the
last human message (the `Instruction: ...` / `Images: ...` lines every LLMPlanner
prompt ends with) and decodes a program with `visprog.models.planner` under the
grammar constraint. A repair turn (an earlier AI reply in the conversation) is
answered by sampling instead of greedy decoding, so it brings a different program.
Works offline: the weights are in the package.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

_REQUEST = re.compile(r"Instruction:[ \t]*(.*?)[ \t]*\n(?:[ \t]*Task:[ \t]*(\w+)[ \t]*\n)?"
                      r"[ \t]*Images:[ \t]*(.*?)[ \t]*\n[ \t]*Program:", re.S)


def parse_request(text: str) -> tuple[str, tuple[str, ...], Optional[str]]:
    """(instruction, image names, task) from the end of a planner prompt; a bare instruction
    works too (no names, no task)."""
    matches = list(_REQUEST.finditer(text))
    if matches:
        instruction, task, images = matches[-1].groups()
        return (instruction.strip(), tuple(n.strip() for n in images.split(",") if n.strip()),
                task)
    return text.strip(), (), None


class LocalPlannerChat(BaseChatModel):
    """Chat-model face of the in-repo planner (visprog/weights/planner.safetensors)."""

    weights: Optional[str] = None   # a .safetensors file; None: the packaged weights
    temperature: float = 0.0        # 0: greedy
    repair_temperature: float = 0.8
    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "visprog-local-planner"

    @property
    def identity(self) -> str:
        from pathlib import Path
        from ..models.planner import WEIGHTS
        path = Path(self.weights) if self.weights else WEIGHTS
        try:
            stamp = f"{path.stat().st_size}-{int(path.stat().st_mtime)}"
        except OSError:
            stamp = "missing"
        return f"local:{path.name}:{stamp}:{self.temperature}"

    def _model(self):
        from ..models import planner as P
        if self.weights is None:
            return P.default_model()
        cache = _LOADED.get(self.weights)
        if cache is None:
            cache = _LOADED[self.weights] = P.PlannerModel.load(self.weights)
        return cache

    def _generate(self, messages: list[BaseMessage], stop: Optional[list[str]] = None,
                  run_manager: Optional[CallbackManagerForLLMRun] = None, **kwargs: Any) -> ChatResult:
        import torch
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        text = human.content if human is not None and isinstance(human.content, str) else ""
        instruction, names, task = parse_request(text)
        if task is None or not names:
            from .tasks import INPUTS, detect_task
            task = task or detect_task(instruction)
            names = names or INPUTS.get(task, ("IMAGE",))
        repairing = any(isinstance(m, AIMessage) for m in messages)
        temperature = self.repair_temperature if repairing else self.temperature
        generator = torch.Generator().manual_seed(self.seed + sum(isinstance(m, AIMessage)
                                                                  for m in messages))
        program = self._model().plan([instruction], [names], tasks=[task],
                                     temperature=temperature, generator=generator)[0]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=program))])


_LOADED: dict = {}


def local_planner(**kwargs) -> "LLMPlanner":  # noqa: F821
    """LLMPlanner around the in-repo model (no in-context examples: the model needs none)."""
    from .llm import LLMPlanner
    chat = LocalPlannerChat(**{k: kwargs.pop(k) for k in ("weights", "temperature", "seed")
                               if k in kwargs})
    kwargs.setdefault("k", 0)
    kwargs.setdefault("name", chat.identity)
    return LLMPlanner(chat, **kwargs)
