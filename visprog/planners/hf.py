"""A transformers planner: a local causal LM from a folder, decoded under the program grammar.

    planner = hf_planner("models/my-llm")           # LLMPlanner(HFPlannerChat(path=...))
    planner.plan("How many dogs are left of the car?")

`HFPlannerChat` is a LangChain chat model over `AutoModelForCausalLM` and
`AutoTokenizer` loaded from `path` (nothing is downloaded). It renders the
conversation as plain text (or with the tokenizer's chat template when it has
one) and decodes greedily, token by token, allowing only LM tokens whose text
keeps the output a prefix of a valid program: `ProgramPrefix` follows the text
through `grammar.DecodeState` (declared modules and arguments, defined
variables of the right kind, well-formed literals and Eval expressions). When
the token budget runs low it steers to the shortest completion, so the output
always parses and checks. The program is printed in one canonical layout:
`OUT=Module(arg=value, arg=value)`, strings in single quotes, Eval expressions
in double quotes with single spaces around operators.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable, Optional

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from ..errors import PlannerError
from . import grammar as G

GENERIC_OUTPUTS = ([f"{p}{i}" for p in ("ANSWER", "BOX", "IMAGE", "OBJ", "LIST", "POINTS")
                    for i in range(10)] + ["FINAL", "FINAL_ANSWER", "FINAL_RESULT"])
_WORD_OPS = {"and", "or", "xor", "not", "if", "else"}
_DIGITS = re.compile(r"[0-9]+(\.[0-9]+)?")


def generic_spec(registry) -> G.Spec:
    """A vocabulary with open classes: any string content, any number, generic output names."""
    vocab = G.base_vocab(registry) + ["out:" + n for n in GENERIC_OUTPUTS]
    vocab += ["var:" + n for n in GENERIC_OUTPUTS] + ["ref:" + n for n in GENERIC_OUTPUTS + ["LEFT", "RIGHT", "IMAGE"]]
    vocab += ["num:0.5"]  # marks that a float is accepted where it is
    return G.Spec(list(dict.fromkeys(vocab)), registry)


def _clone(state: G.DecodeState) -> G.DecodeState:
    new = copy.copy(state)
    new.kinds = dict(state.kinds)
    new.steps = [copy.copy(s) for s in state.steps]
    for s in new.steps:
        s.args = list(s.args)
    new.words, new.items, new.expr = list(state.words), list(state.items), list(state.expr)
    return new


class ProgramPrefix:
    """The set of grammar states a text prefix can be in. `feed(text)` returns the states after
    it (empty: not a valid prefix); `complete` says whether the text is a whole program."""

    def __init__(self, registry, inputs: Iterable[str]):
        self.spec = generic_spec(registry)
        self.configs = [(G.DecodeState(self.spec, inputs), "")]

    # -- renderings of the allowed tokens in the current state --

    def _options(self, state: G.DecodeState, finishing: bool):
        """(finite renderings: text -> tokens to advance, open class or None)."""
        allowed, copy_mode = state.allowed(finishing)
        finite: dict[str, list[str]] = {}
        open_class = None
        phase = state.phase
        for tok in allowed:
            text = self._render(state, tok)
            if text is None:
                continue
            finite.setdefault(text, [tok])
        if phase == "string":
            open_class = "string"
        elif any(t.startswith("num:") for t in allowed) or copy_mode == "num":
            open_class = "float" if ("num:0.5" in allowed or phase == "expr") else "int"
        return finite, open_class

    def _render(self, state: G.DecodeState, tok: str) -> Optional[str]:
        phase = state.phase
        if tok == G.EOS:
            return None
        if tok.startswith("num:") or (tok.startswith("w:")):
            return None  # open classes
        if phase == "line":
            return tok[4:] + "="
        if phase == "module":
            return tok[4:] + "("
        if phase == "argname":
            if tok == G.CLOSE:
                return ")\n"
            return ("" if not state.steps[-1].args else ", ") + tok[4:] + "="
        if phase == "value":
            if tok == G.STR_OPEN:
                return "'"
            if tok == G.EXPR_OPEN:
                return '"'
            if tok == G.LIST_OPEN:
                return "["
            return tok.split(":", 1)[1]  # var:X, lit:None
        if phase == "string":
            return "'" if tok == G.STR_CLOSE else None
        if phase == "list":
            if tok == G.LIST_CLOSE:
                return "]"
            return "'" if not state.items else ", '"
        if phase == "expr":
            if tok == G.EXPR_CLOSE:
                return '"'
            kind, _, body = tok.partition(":")
            if kind == "ref":
                return "{" + body + "}"
            if kind == "es":
                return f"'{body}'"
            if kind == "atom":
                return body
            if body in G.BINARY or body in ("if", "else"):
                return f" {body} "
            return {"not": "not ", "neg": "-", "(": "(", ")": ")"}.get(body)
        return None

    # -- feeding text --

    def feed(self, text: str, configs=None, finishing: bool = False):
        configs = list(self.configs if configs is None else configs)
        for ch in text:
            nxt = []
            for state, buf in configs:
                nxt += self._step(state, buf, ch, finishing)
            # keep distinct configurations only
            seen, configs = set(), []
            for state, buf in nxt:
                key = (state.phase, buf, state.count, G.DecodeState.text(state),
                       tuple(state.words), tuple(state.expr), tuple(state.items))
                if key not in seen:
                    seen.add(key)
                    configs.append((state, buf))
            if not configs:
                return []
        return configs

    def _step(self, state, buf, ch, finishing):
        if state.done:
            return []
        finite, open_class = self._options(state, finishing)
        out = []
        if open_class == "string":
            if ch == "'":
                if buf:
                    s = _clone(state)
                    s.advance("w:" + buf)
                    s.advance(G.STR_CLOSE)
                    out.append((s, ""))
            elif ch not in "\\\n\r\"" and (len(buf) < 200):
                out.append((state, buf + ch))
            return out
        if open_class in ("int", "float") and (buf == "" or _DIGITS.fullmatch(buf) or buf.endswith(".")):
            cand = buf + ch
            if ch.isdigit() or (ch == "." and open_class == "float" and buf and "." not in buf):
                if len(cand) <= 12:
                    out.append((state, cand))
            elif buf and _DIGITS.fullmatch(buf):
                s = _clone(state)
                s.advance("num:" + buf)
                out += self._step(s, "", ch, finishing)
        new = buf + ch
        for text, toks in finite.items():
            if text == new:
                s = _clone(state)
                for t in toks:
                    s.advance(t)
                out.append((s, ""))
            elif text.startswith(new):
                out.append((state, new))
        return out

    def accept(self, configs) -> None:
        self.configs = configs

    def can_end(self, configs=None) -> bool:
        for state, buf in (self.configs if configs is None else configs):
            if buf == "" and state.phase == "line" and G.EOS in state.allowed()[0]:
                return True
        return False

    def completion(self, configs=None) -> str:
        """The shortest way (following the finishing choices) to a whole program from here."""
        state, buf = (self.configs if configs is None else configs)[0]
        state = _clone(state)
        out = ""
        for _ in range(400):
            if state.phase == "line" and buf == "" and G.EOS in state.allowed(True)[0]:
                return out
            finite, open_class = self._options(state, True)
            if open_class == "string":
                if not buf:
                    out += "x"
                    buf = "x"
                state.advance("w:" + buf)
                state.advance(G.STR_CLOSE)
                out += "'"
                buf = ""
                continue
            if open_class in ("int", "float") and not finite:
                if not buf or buf.endswith("."):
                    out += "0"
                    buf += "0"
                state.advance("num:" + buf)
                buf = ""
                continue
            match = next(((t, toks) for t, toks in finite.items() if t.startswith(buf)), None)
            if match is None:
                if open_class in ("int", "float") and buf:
                    state.advance("num:" + buf)
                    buf = ""
                    continue
                return out
            text, toks = match
            out += text[len(buf):]
            for t in toks:
                state.advance(t)
            buf = ""
        return out


class HFPlannerChat(BaseChatModel):
    """A local causal LM (transformers) as a chat model whose replies are valid programs."""

    path: str
    max_new_tokens: int = 256
    finish_margin: int = 48     # tokens kept for steering to the end
    top_k_checked: int = 64     # candidates checked per step before scanning the rest
    model_kwargs: dict = {}

    _model: Any = None
    _tokenizer: Any = None
    _texts: Any = None

    @property
    def _llm_type(self) -> str:
        return "visprog-hf-planner"

    @property
    def identity(self) -> str:
        return f"hf:{self.path}"

    def _load(self):
        if self._model is None:
            check_model_folder(self.path)
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # no "Loading weights" bar; warnings still show
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True,
                                                             **self.model_kwargs).eval()
            except (OSError, ValueError, KeyError, ImportError) as exc:
                from .llm import error_line
                raise PlannerError(f"hf planner {self.path}: cannot load the model: "
                                   f"{error_line(exc)}") from exc
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
            self._texts = token_texts(tokenizer)
            self._tokenizer, self._model = tokenizer, model
        return self._model, self._tokenizer

    def _prompt(self, messages: list[BaseMessage]) -> str:
        _, tok = self._load()
        if getattr(tok, "chat_template", None):
            roles = {"system": "system", "human": "user", "ai": "assistant"}
            chat = [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
            return tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(str(m.content) for m in messages) + "\n"

    def _generate(self, messages: list[BaseMessage], stop: Optional[list[str]] = None,
                  run_manager: Optional[CallbackManagerForLLMRun] = None, **kwargs: Any) -> ChatResult:
        from .local import parse_request
        from .tasks import INPUTS, detect_task
        from ..tools import registry
        human = [m for m in messages if m.type == "human"]
        instruction, names, task = parse_request(str(human[-1].content) if human else "")
        if not names:
            names = INPUTS[task or detect_task(instruction)]
        text = self.decode(self._prompt(messages), ProgramPrefix(registry, names))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def decode(self, prompt: str, prefix: ProgramPrefix) -> str:
        import torch
        model, tok = self._load()
        ids = tok(prompt, return_tensors="pt").input_ids
        eos = tok.eos_token_id
        out = ""
        past = None
        step_ids = ids
        import inspect
        params = inspect.signature(model.forward).parameters
        cache_arg = "cache" if "cache" in params else "past_key_values"  # transformers >= 5.2x
        with torch.no_grad():
            for step in range(self.max_new_tokens):
                result = model(input_ids=step_ids, use_cache=True, **{cache_arg: past})
                past = getattr(result, "cache", None) or getattr(result, "past_key_values", None)
                logits = result.logits[0, -1].float()
                finishing = step >= self.max_new_tokens - self.finish_margin
                choice = self._choose(logits, prefix, finishing, eos)
                if choice is None:
                    break
                tid, configs = choice
                if configs is None:  # end of program
                    break
                prefix.accept(configs)
                out += self._texts[tid]
                step_ids = torch.tensor([[tid]])
        if not prefix.can_end():
            out += prefix.completion()
        return out.rstrip("\n")

    def _choose(self, logits, prefix: ProgramPrefix, finishing: bool, eos):
        order = logits.argsort(descending=True).tolist()
        can_end = prefix.can_end()
        target = prefix.completion() if finishing else None
        if finishing and can_end:
            return (eos, None)
        for rank, tid in enumerate(order):
            if tid == eos or (self._texts[tid] == "\n" and can_end):
                if can_end:
                    return (tid, None)
                continue
            text = self._texts[tid]
            if not text:
                continue
            if target is not None and not target.startswith(text):
                continue
            configs = prefix.feed(text)
            if configs:
                return (tid, configs)
        return None


def token_texts(tokenizer) -> list[str]:
    """The text each token id adds (SentencePiece '▁' and byte-level 'Ġ'/'Ċ' spaces resolved)."""
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    special = set(tokenizer.all_special_ids)
    texts = []
    byte_level = any(p and ("Ġ" in p or "Ċ" in p) for p in pieces[:5000] if isinstance(p, str))
    for i, p in enumerate(pieces):
        if i in special or p is None:
            texts.append("")
            continue
        m = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", p)
        if m:
            b = int(m.group(1), 16)
            texts.append(chr(b) if b < 128 else "")
            continue
        if byte_level:
            texts.append(tokenizer.convert_tokens_to_string([p]))
        else:
            texts.append(p.replace("▁", " "))
    return texts


def check_model_folder(path: str) -> Path:
    """A transformers model folder (it exists and has config.json), or PlannerError."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise PlannerError(f"hf planner {path}: no such folder")
    if not folder.is_dir():
        raise PlannerError(f"hf planner {path}: not a folder (give a transformers model folder)")
    if not any(folder.iterdir()):
        raise PlannerError(f"hf planner {path}: the folder is empty")
    if not (folder / "config.json").is_file():
        raise PlannerError(f"hf planner {path}: no config.json (not a transformers model folder)")
    return folder


def hf_planner(path: str, **kwargs):
    """LLMPlanner around HFPlannerChat(path); PlannerError when `path` is not a model folder."""
    from .llm import LLMPlanner
    check_model_folder(str(path))
    chat = HFPlannerChat(path=str(path), **{k: kwargs.pop(k) for k in
                                            ("max_new_tokens", "finish_margin", "model_kwargs")
                                            if k in kwargs})
    kwargs.setdefault("name", chat.identity)
    return LLMPlanner(chat, **kwargs)
