"""A planner backed by any LangChain chat model.

    python examples/chat_model_planner.py [--out DIR]

`visprog.planners.LLMPlanner(chat_model)` turns a chat model into a planner: it
prompts the model with the module documentation (generated from the registry)
and in-context examples, then parses and checks the program it writes. Any
LangChain chat model works:

    from langchain_openai import ChatOpenAI
    planner = LLMPlanner(ChatOpenAI(model="gpt-4o-mini", temperature=0))

    from langchain_ollama import ChatOllama
    planner = LLMPlanner(ChatOllama(model="qwen2.5-coder:7b"))

This demo runs offline with a *scripted* chat model: it finds which of its known
instructions the prompt asks about and answers with a fixed program, as a real
model would answer with the program it writes.
"""

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

import visprog
from visprog.iconworld import render, sample_placements
from visprog.planners import LLMPlanner

SCRIPT = {
    "How many dogs are there?": """\
BOX0=Loc(image=IMAGE, object='dog')
ANSWER0=Count(box=BOX0)
FINAL_RESULT=Result(var=ANSWER0)""",
    "Are there more cats than dogs?": """\
BOX0=Loc(image=IMAGE, object='cat')
ANSWER0=Count(box=BOX0)
BOX1=Loc(image=IMAGE, object='dog')
ANSWER1=Count(box=BOX1)
ANSWER2=Eval(expr="'yes' if {ANSWER0} > {ANSWER1} else 'no'")
FINAL_RESULT=Result(var=ANSWER2)""",
}


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers the last of its known instructions found in the prompt."""

    script: dict[str, str]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        prompt = "\n".join(m.content if isinstance(m.content, str) else str(m.content)
                           for m in messages)
        found = max(self.script, key=lambda instruction: prompt.rfind(instruction))
        if prompt.rfind(found) < 0:
            found = next(iter(self.script))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.script[found]))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the rationale pages")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="visprog-example-"))
    out.mkdir(parents=True, exist_ok=True)

    planner = LLMPlanner(ScriptedChatModel(script=SCRIPT))

    rng = np.random.default_rng(4)
    image, _ = render(sample_placements(rng, ["dog", "dog", "cat", "cat", "cat", "tree"]), seed=4)
    for i, instruction in enumerate(SCRIPT):
        result = visprog.run(instruction, {"IMAGE": image}, planner=planner, backend="oracle")
        print(result.program)
        print(f"{instruction} -> {result.value}\n")
        (out / f"chat_planner_{i}.html").write_text(result.html(instruction), encoding="utf-8")
    print(f"rationale pages in {out}")


if __name__ == "__main__":
    main()
