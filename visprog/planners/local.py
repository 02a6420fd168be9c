"""The in-repo planner model behind `LLMPlanner`, like any chat model, without LangChain.

    from visprog.planners.local import LocalPlanner, local_planner
    planner = local_planner()                       # LLMPlanner(LocalPlanner())
    planner.plan("The left image shows two dogs.")

`LocalPlanner.chat(messages)` takes the conversation as (role, text) pairs, reads the
instruction and the image names from the last human message (the `Instruction: ...` /
`Images: ...` lines every LLMPlanner prompt ends with) and decodes a program with
`visprog.models.planner` under the grammar constraint. A repair turn (an earlier AI
reply in the conversation) is answered by sampling instead of greedy decoding, so it
brings a different program. An instruction the model cannot read as a request about the
images (gibberish, chit-chat) raises `PlannerError` (`refusal`). LangChain is not imported:
it costs half a second of a cold `visprog run`. Works offline: the weights ship in the
package (`VISPROG_WEIGHTS` points elsewhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import PlannerError

# The model writes *some* program for any text, gibberish too, so it refuses an instruction
# when it is unsure of its program (`PlannerModel.plan_scored`'s confidence) *and* the
# instruction is unlike each in-context example (`likeness`): confidence alone, at a threshold
# that refused 0.4% of the generators' instructions, refused 9.4% of the hand-written
# paraphrases. Each threshold is the 1st percentile of its score over 1,296 held-out real
# instructions (300 icon-world items a task of seed 2024, and the 96 paraphrases), measured with
# the shipped planner.safetensors by `python benchmarks/planner_refusal.py`: together they refuse
# none of those, none of 1,200 items of seed 9001, 1 of 70 everyday requests and 87-99% of each
# kind of gibberish (the table: visprog/weights/planner.md). Rerun it after retraining.
MIN_CONFIDENCE = -0.0195
MIN_LIKENESS = 0.318

# A request's instruction is on one line (`llm.request_text`). Groups hold whole lines and are
# stripped afterwards: a lazy group or [ \t]* around one would rescan runs of the text
# from each of their characters (quadratic in the instruction's length).
_REQUEST = re.compile(r"Instruction:([^\n]*)\n(?:[ \t]*Task:[ \t]*(\w+)[ \t]*\n)?"
                      r"[ \t]*Images:([^\n]*)\n[ \t]*Program:")


def likeness(instruction: str) -> float:
    """The MiniLM similarity of `instruction` to the nearest in-context example (-1 to 1)."""
    from .select import nearest_examples
    return nearest_examples(instruction, k=1)[0][1]


def refusal(instruction: str, confidence: float) -> Optional[str]:
    """Why the planner refuses `instruction`, whose program scored `confidence`, or None."""
    if confidence >= MIN_CONFIDENCE:
        return None
    like = likeness(instruction)  # only for the rare unsure plan: a MiniLM pass
    if like >= MIN_LIKENESS:
        return None
    shown = instruction if len(instruction) <= 80 else instruction[:77] + "..."
    return (f"the instruction does not read as a request about the image(s): {shown!r} "
            f"(confidence {confidence:.3f} < threshold {MIN_CONFIDENCE}, and likeness to the "
            f"planner's examples {like:.2f} < {MIN_LIKENESS}); ask about what the images show, "
            f"e.g. 'How many dogs are there?'")


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
        programs, scores = load("planner", self.weights).plan_scored(
            instructions, names, tasks=tasks, temperature=temperature, generator=generator)
        if not replies:  # a repair's instruction was accepted already; the sample scores lower
            for instruction, score in zip(instructions, scores):
                why = refusal(instruction, score)
                if why:  # from chat_batch too: LLMPlanner then asks each alone for its error
                    raise PlannerError(why)
        return programs


def local_planner(**kwargs) -> "LLMPlanner":  # noqa: F821
    """LLMPlanner around the in-repo model (no in-context examples: the model needs none)."""
    from .llm import LLMPlanner
    model = LocalPlanner(**{k: kwargs.pop(k) for k in ("weights", "temperature", "seed")
                            if k in kwargs})
    kwargs.setdefault("k", 0)
    kwargs.setdefault("name", model.identity)
    return LLMPlanner(model, **kwargs)
