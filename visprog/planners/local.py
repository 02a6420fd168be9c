"""The in-repo planner model behind `LLMPlanner`, like any chat model, without LangChain.

    from visprog.planners.local import LocalPlanner, local_planner
    planner = local_planner()                       # LLMPlanner(LocalPlanner())
    planner.plan("The left image shows two dogs.")

`LocalPlanner.chat(messages)` takes the conversation as (role, text) pairs, reads the
instruction and the image names from the last human message (the `Instruction: ...` /
`Images: ...` lines every LLMPlanner prompt ends with) and decodes a program with
`visprog.models.planner` under the grammar constraint. A repair turn (an earlier AI
reply in the conversation) is answered by sampling instead of greedy decoding, so it
brings a different program. LangChain is not imported: it costs half a second of a
cold `visprog run`. Works offline: the weights ship in the package (`VISPROG_WEIGHTS`
points elsewhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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


@dataclass
class LocalPlanner:
    """The chat face of the in-repo planner (visprog/weights/planner.safetensors)."""

    weights: Optional[str] = None   # a .safetensors file; None: weights_path("planner")
    temperature: float = 0.0        # 0: greedy
    repair_temperature: float = 0.8
    seed: int = 0

    @property
    def identity(self) -> str:
        """Names the weights file and its version, so cached programs follow a retrain."""
        from ..models.weights import weights_path
        path = Path(self.weights or weights_path("planner"))
        try:
            stamp = f"{path.stat().st_size}-{int(path.stat().st_mtime)}"
        except OSError:
            stamp = "missing"
        return f"local:{path.name}:{stamp}:{self.temperature}"

    def chat(self, messages: list[tuple[str, str]]) -> str:
        """The program the model writes for the last request in the conversation."""
        import torch
        from ..models import load
        text = next((body for role, body in reversed(messages) if role == "human"), "")
        instruction, names, task = parse_request(text)
        if task is None or not names:
            from .tasks import INPUTS, detect_task
            task = task or detect_task(instruction)
            names = names or INPUTS.get(task, ("IMAGE",))
        replies = sum(role == "ai" for role, _ in messages)
        temperature = self.repair_temperature if replies else self.temperature
        generator = torch.Generator().manual_seed(self.seed + replies)
        return load("planner", self.weights).plan([instruction], [names], tasks=[task],
                                                  temperature=temperature, generator=generator)[0]


def local_planner(**kwargs) -> "LLMPlanner":  # noqa: F821
    """LLMPlanner around the in-repo model (no in-context examples: the model needs none)."""
    from .llm import LLMPlanner
    model = LocalPlanner(**{k: kwargs.pop(k) for k in ("weights", "temperature", "seed")
                            if k in kwargs})
    kwargs.setdefault("k", 0)
    kwargs.setdefault("name", model.identity)
    return LLMPlanner(model, **kwargs)
