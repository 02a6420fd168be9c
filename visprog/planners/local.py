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

# A request's instruction is on one line (`llm.request_text`). Groups hold whole lines and are
# stripped afterwards: a lazy group or [ \t]* around one would rescan runs of the text
# from each of their characters (quadratic in the instruction's length).
_REQUEST = re.compile(r"Instruction:([^\n]*)\n(?:[ \t]*Task:[ \t]*(\w+)[ \t]*\n)?"
                      r"[ \t]*Images:([^\n]*)\n[ \t]*Program:")


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
        return self._decode([messages], sum(role == "ai" for role, _ in messages))[0]

    def chat_batch(self, conversations: list[list[tuple[str, str]]]) -> list[str]:
        """`chat` of many first requests (no earlier reply), decoded as one batch."""
        if any(role == "ai" for messages in conversations for role, _ in messages):
            return [self.chat(messages) for messages in conversations]
        return self._decode(conversations, 0)

    def _decode(self, conversations: list, replies: int) -> list[str]:
        import torch
        from ..models import load
        from .tasks import INPUTS, detect_task
        requests = []
        for messages in conversations:
            text = next((body for role, body in reversed(messages) if role == "human"), "")
            instruction, names, task = parse_request(text)
            task = task or detect_task(instruction)
            requests.append((instruction, names or INPUTS.get(task, ("IMAGE",)), task))
        instructions, names, tasks = (list(column) for column in zip(*requests))
        temperature = self.repair_temperature if replies else self.temperature
        generator = torch.Generator().manual_seed(self.seed + replies)
        return load("planner", self.weights).plan(instructions, names, tasks=tasks,
                                                  temperature=temperature, generator=generator)


def local_planner(**kwargs) -> "LLMPlanner":  # noqa: F821
    """LLMPlanner around the in-repo model (no in-context examples: the model needs none)."""
    from .llm import LLMPlanner
    model = LocalPlanner(**{k: kwargs.pop(k) for k in ("weights", "temperature", "seed")
                            if k in kwargs})
    kwargs.setdefault("k", 0)
    kwargs.setdefault("name", model.identity)
    return LLMPlanner(model, **kwargs)
