"""Constrained decoding: which program tokens may come next, from the grammar and the registry.

A program is decoded as a sequence of *program tokens* (not characters):

    out:ANSWER0  mod:Vqa  arg:image  var:LEFT  arg:question  str(  w:How  w:many ... )str  )
    out:ANSWER2  mod:Eval  arg:expr  expr(  ref:ANSWER0  op:+  ref:ANSWER1  op:==  num:6  )expr  )
    <eos>

`DecodeState` follows the tokens emitted so far and answers `allowed()`: only
declared modules whose required arguments can be filled, only their declared
arguments (each once, required ones before ')'), only defined variables of a
kind the argument takes, well-formed literals, and Eval expressions that the
expression grammar accepts with only defined {VAR}s. Any path through the
allowed sets is a program that parses and checks (the tests decode from
untrained models to show it). `finishing=True` narrows every choice to one
that moves toward the end, so a decoder with a token budget always closes.

`program_tokens()` turns a program into this sequence (for training), and
`DecodeState.text()` prints the decoded program back as visprog source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..registry import compatible
from ..program import Program, Var, format_value, parse
from ..registry import Registry

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
CLOSE = ")"                      # ends a step's argument list
STR_OPEN, STR_CLOSE = "str(", ")str"
LIST_OPEN, LIST_CLOSE = "[", "]"
EXPR_OPEN, EXPR_CLOSE = "expr(", ")expr"
UNK_WORD = "w:<copy>"            # input slot for a copied word outside the vocabulary
LITERALS = ("lit:None", "lit:True", "lit:False")

# Expression operators: binary ones, and the prefixes.
BINARY = ("+", "-", "*", "/", "//", "%", "==", "!=", "<", ">", "<=", ">=", "and", "or", "xor")
EXPR_SPECIAL = ("not", "neg", "(", ")", "if", "else")
EXPR_ATOMS = ("True", "False")  # as `atom:True`

MAX_STEPS = 16
MAX_WORDS = 24       # words in one string literal
MAX_LIST = 12        # items in one list literal
MAX_EXPR = 48        # tokens in one expression
INPUT_KINDS = frozenset({"Image"})


def is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+(\.[0-9]+)?", text))


# --- tokens <-> text -------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_EXPR = re.compile(r"\{\s*[A-Za-z_]\w*\s*\}|'[^']*'|\"[^\"]*\"|[0-9]+\.[0-9]+|[0-9]+|==|!=|<=|>="
                   r"|//|\*\*|[A-Za-z_]\w*|\S")
_NO_SPACE_BEFORE = set("?.,!:;)'-/%_")
_NO_SPACE_AFTER = set("('-/$_")


def words_of(text: str) -> list[str]:
    return _WORD.findall(text)


def join_words(words: Iterable[str]) -> str:
    out = ""
    prev = None
    for w in words:
        if out and w not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            out += " "
        out += w
        prev = w
    return re.sub(r" ?_ ?", "_", out)  # emoji names: 'grinning_face'


def expr_tokens(text: str) -> list[str]:
    """Program tokens of an Eval expression (raises ValueError for what the decoder cannot emit)."""
    out = []
    for lexeme in _EXPR.findall(text):
        if lexeme.startswith("{"):
            out.append("ref:" + lexeme.strip("{} "))
        elif lexeme[0] in "'\"":
            body = lexeme[1:-1]
            if not re.fullmatch(r"[A-Za-z0-9 _-]+", body):
                raise ValueError(f"unsupported string in an expression: {lexeme}")
            out.append("es:" + body)
        elif is_number(lexeme):
            out.append("num:" + lexeme)
        elif lexeme in EXPR_ATOMS:
            out.append("atom:" + lexeme)
        elif lexeme in BINARY or lexeme in ("not", "(", ")", "if", "else"):
            out.append("op:" + lexeme)
        else:
            raise ValueError(f"unsupported expression token {lexeme!r}")
    # a '-' where an operand is expected is the unary minus
    fixed, expecting = [], True
    for tok in out:
        if tok == "op:-" and expecting:
            tok = "op:neg"
        fixed.append(tok)
        expecting = tok.startswith("op:") and tok != "op:)"
    return fixed


def render_expr(tokens: Iterable[str]) -> str:
    parts = []
    for tok in tokens:
        kind, _, body = tok.partition(":")
        if kind == "ref":
            parts.append("{" + body + "}")
        elif kind == "es":
            parts.append(repr(body))
        elif kind in ("num", "atom"):
            parts.append(body)
        else:
            parts.append("-" if body == "neg" else body)
    text = ""
    for i, p in enumerate(parts):
        if i and parts[i - 1] not in ("(",) and p != ")" and not (parts[i - 1] == "-" and (
                i < 2 or parts[i - 2] in ("(",) or _is_op(parts[i - 2]))):
            text += " "
        text += p
    return text


def _is_op(text: str) -> bool:
    return text in BINARY or text in ("not", "if", "else", "-")


def program_tokens(program: Program | str, registry: Registry) -> list[str]:
    """The token sequence of a program, with module names made canonical (no BOS/EOS)."""
    if isinstance(program, str):
        program = parse(program)
    out: list[str] = []
    for step in program.steps:
        tool = registry.lookup(step.module)
        if tool is None:
            raise ValueError(f"unknown module {step.module}")
        out += ["out:" + step.output, "mod:" + tool.name]
        for arg in step.args:
            out.append("arg:" + arg.name)
            out += value_tokens(arg.value, tool.reads_variables and arg.name == "expr")
        out.append(CLOSE)
    return out


def value_tokens(value, expression: bool = False) -> list[str]:
    if isinstance(value, Var):
        return ["var:" + value.name]
    if value is None or isinstance(value, bool):
        return [f"lit:{value}"]
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("negative numbers are not decoded")
        return ["num:" + repr(value)]
    if isinstance(value, str):
        if expression:
            return [EXPR_OPEN, *expr_tokens(value), EXPR_CLOSE]
        words = words_of(value)
        if not words:
            raise ValueError("empty string")
        return [STR_OPEN, *("w:" + w for w in words), STR_CLOSE]
    if isinstance(value, list):
        out = [LIST_OPEN]
        for item in value:
            if not isinstance(item, str):
                raise ValueError("only lists of strings are decoded")
            out += value_tokens(item)
        return out + [LIST_CLOSE]
    raise ValueError(f"unsupported value {value!r}")


# --- the decoding state ----------------------------------------------------------------------

@dataclass
class _Step:
    output: str
    module: str = ""
    args: list = field(default_factory=list)  # [(name, value)]


class Spec:
    """The vocabulary grouped by role, with the registry: shared by every DecodeState."""

    def __init__(self, vocab: list[str], registry: Registry):
        self.vocab = vocab
        self.index = {t: i for i, t in enumerate(vocab)}
        self.registry = registry
        self.outs = [t for t in vocab if t.startswith("out:")]
        self.modules = [t for t in vocab if t.startswith("mod:") and registry.lookup(t[4:]) is not None
                        and registry.lookup(t[4:]).name == t[4:]]
        self.words = [t for t in vocab if t.startswith("w:") and t != UNK_WORD]
        self.nums = [t for t in vocab if t.startswith("num:")]
        self.int_nums = [t for t in self.nums if "." not in t]
        self.es = [t for t in vocab if t.startswith("es:")]
        self.atoms = [t for t in vocab if t.startswith("atom:")]
        self.binary = [t for t in vocab if t.startswith("op:") and t[3:] in BINARY]
        self.refs = [t for t in vocab if t.startswith("ref:")]
        self.vars = [t for t in vocab if t.startswith("var:")]

    def has(self, token: str) -> bool:
        return token in self.index


def base_vocab(registry: Registry) -> list[str]:
    """Tokens every planner vocabulary holds, whatever the training data."""
    vocab = [PAD, BOS, EOS, CLOSE, STR_OPEN, STR_CLOSE, LIST_OPEN, LIST_CLOSE, EXPR_OPEN,
             EXPR_CLOSE, UNK_WORD, *LITERALS]
    vocab += ["op:" + o for o in BINARY + EXPR_SPECIAL] + ["atom:" + a for a in EXPR_ATOMS]
    vocab += ["es:yes", "es:no"]
    for tool in registry:
        vocab.append("mod:" + tool.name)
        vocab += ["arg:" + p.name for p in tool.params]
    vocab += ["var:" + n for n in ("IMAGE", "LEFT", "RIGHT")]
    vocab += ["num:" + str(n) for n in range(21)]
    return list(dict.fromkeys(vocab))


class DecodeState:
    """Where a decoder is in a program; `allowed()` and `advance()` drive constrained decoding."""

    def __init__(self, spec: Spec, inputs: Iterable[str] = ("IMAGE",),
                 modules: Optional[Iterable[str]] = None):
        self.spec = spec
        self.modules = frozenset(modules) if modules is not None else None  # e.g. per task
        self.inputs = tuple(inputs)
        self.kinds: dict[str, frozenset[str]] = {n: INPUT_KINDS for n in self.inputs}
        self.steps: list[_Step] = []
        self.phase = "line"   # line | module | argname | value | string | list | expr | done
        self.tool = None
        self.param = None
        self.words: list[str] = []
        self.items: list[str] = []
        self.expr: list[str] = []
        self.count = 0  # tokens emitted

    # -- queries --

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def _missing(self) -> list:
        given = {name for name, _ in self.steps[-1].args}
        return [p for p in self.tool.params if p.required and p.name not in given]

    def _vars_for(self, accepted: frozenset[str]) -> list[str]:
        return [f"var:{n}" for n, k in self.kinds.items() if compatible(k, accepted)
                and self.spec.has(f"var:{n}")]

    def _literal_options(self, param, finishing: bool) -> list[str]:
        kinds = param.kinds
        out = []
        if self._is_expr(param):
            return [EXPR_OPEN]
        if "str" in kinds or "any" in kinds:
            out.append(STR_OPEN)
        if "list[str]" in kinds:
            out.append(LIST_OPEN)
        if "None" in kinds:
            out.append("lit:None")
        if "bool" in kinds:
            out += ["lit:True", "lit:False"]
        if "float" in kinds:
            out += self.spec.nums
        elif "int" in kinds:
            out += self.spec.int_nums
        return out

    def _is_expr(self, param) -> bool:
        return self.tool.reads_variables and param.name == "expr"

    def _satisfiable(self, tool) -> bool:
        for p in tool.params:
            if p.required and not (self._vars_for(p.kinds) or self._literal_options_for(tool, p)):
                return False
        return True

    def _literal_options_for(self, tool, param) -> list[str]:
        saved = self.tool
        self.tool = tool
        try:
            return self._literal_options(param, False)
        finally:
            self.tool = saved

    def allowed(self, finishing: bool = False) -> tuple[list[str], Optional[str]]:
        """(allowed vocabulary tokens, copy mode): copy mode 'word' lets the decoder copy any
        instruction word into a string, 'num' a numeral into a number slot, None no copying."""
        phase = self.phase
        if phase == "line":
            if len(self.steps) >= MAX_STEPS or (finishing and self.steps):
                return [EOS], None
            taken = set(self.kinds)
            outs = [t for t in self.spec.outs if t[4:] not in taken]
            return outs + ([EOS] if self.steps else []), None
        if phase == "module":
            options = [t for t in self.spec.modules
                       if self._satisfiable(self.spec.registry.lookup(t[4:]))]
            if self.modules is not None:
                options = [t for t in options if t[4:] in self.modules] or options
            return options, None
        if phase == "argname":
            missing = self._missing()
            if finishing:
                return ([f"arg:{missing[0].name}"] if missing else [CLOSE]), None
            given = {name for name, _ in self.steps[-1].args}
            names = [f"arg:{p.name}" for p in self.tool.params if p.name not in given
                     and (self._vars_for(p.kinds) or self._literal_options(p, False))]
            return [t for t in names if self.spec.has(t)] + ([] if missing else [CLOSE]), None
        if phase == "value":
            options = self._vars_for(self.param.kinds)
            if self._is_expr(self.param):
                return [EXPR_OPEN], None
            if not (finishing and options):
                options = options + self._literal_options(self.param, finishing)
                if finishing and LIST_OPEN in options:
                    options = [LIST_OPEN]
            copy = "num" if any(t.startswith("num:") for t in options) else None
            return options, copy
        if phase == "string":
            if self.words and (finishing or len(self.words) >= MAX_WORDS):
                return [STR_CLOSE], None
            return self.spec.words + ([STR_CLOSE] if self.words else []), "word"
        if phase == "list":
            if finishing or len(self.items) >= MAX_LIST:
                return [LIST_CLOSE], None
            return [STR_OPEN, LIST_CLOSE], None
        if phase == "expr":
            return self._expr_allowed(finishing or len(self.expr) >= MAX_EXPR)
        return [], None

    # Expression states: scanned from the tokens so far (they are short).
    def _expr_scan(self):
        depth, pending = 0, [False]
        expecting, last = True, None
        for tok in self.expr:
            body = tok[3:] if tok.startswith("op:") else None
            if body == "(":
                depth += 1
                pending.append(False)
                expecting = True
            elif body == ")":
                depth -= 1
                pending.pop()
                expecting = False
            elif body == "if":
                pending[-1] = True
                expecting = True
            elif body == "else":
                pending[-1] = False
                expecting = True
            elif body is not None:
                expecting = True
            else:
                expecting = False
            last = body if body is not None else "operand"
        return depth, pending, expecting, last

    def _expr_allowed(self, finishing: bool):
        depth, pending, expecting, last = self._expr_scan()
        spec = self.spec
        refs = [f"ref:{n}" for n, k in self.kinds.items()
                if k - {"Image", "None"} and spec.has(f"ref:{n}")]
        if expecting:
            operands = refs + spec.nums + spec.es + spec.atoms
            if finishing:
                return operands, "num"
            extra = ["op:neg", "op:("]
            if last in (None, "and", "or", "xor", "not", "(", "if", "else"):
                extra.append("op:not")
            if last in ("neg",):
                extra = ["op:neg", "op:("]
            if depth >= 6:
                extra = [e for e in extra if e != "op:("]
            return operands + extra, "num"
        if finishing:
            if depth:
                return (["op:else"] if pending[-1] else ["op:)"]), None
            return (["op:else"] if pending[-1] else [EXPR_CLOSE]), None
        options = list(spec.binary)
        if pending[-1]:
            options.append("op:else")
        else:
            options.append("op:if")
            options.append("op:)" if depth else EXPR_CLOSE)
        return options, None

    # -- transitions --

    def advance(self, token: str) -> None:
        """Take one token (a vocabulary token, or 'w:<word>'/'num:<n>' copied from the input)."""
        self.count += 1
        phase = self.phase
        if phase == "line":
            if token == EOS:
                self.phase = "done"
                return
            self.steps.append(_Step(token[4:]))
            self.phase = "module"
        elif phase == "module":
            self.tool = self.spec.registry.lookup(token[4:])
            self.steps[-1].module = self.tool.name
            self.phase = "argname"
        elif phase == "argname":
            if token == CLOSE:
                step = self.steps[-1]
                self.kinds[step.output] = self.tool.output
                self.tool = None
                self.phase = "line"
            else:
                self.param = self.tool.param(token[4:])
                self.phase = "value"
        elif phase == "value":
            if token == STR_OPEN:
                self.phase, self.words = "string", []
            elif token == LIST_OPEN:
                self.phase, self.items = "list", []
            elif token == EXPR_OPEN:
                self.phase, self.expr = "expr", []
            else:
                self._set(_literal(token))
        elif phase == "string":
            if token == STR_CLOSE:
                text = join_words(self.words)
                if self.items is not None and self._in_list:
                    self.items.append(text)
                    self.phase = "list"
                    self._in_list = False
                else:
                    self._set(text)
            else:
                self.words.append(token[2:])
        elif phase == "list":
            if token == LIST_CLOSE:
                self._set(list(self.items))
            else:
                self.phase, self.words, self._in_list = "string", [], True
        elif phase == "expr":
            if token == EXPR_CLOSE:
                self._set(render_expr(self.expr))
            else:
                self.expr.append(token)

    _in_list = False

    def _set(self, value) -> None:
        self.steps[-1].args.append((self.param.name, value))
        self.param = None
        self.phase = "argname"

    def text(self) -> str:
        """The program so far as visprog source (complete steps only)."""
        lines = []
        for step in self.steps:
            if not step.module or (step is self.steps[-1] and self.phase not in ("line", "done")):
                continue
            args = ", ".join(f"{n}={format_value(v)}" for n, v in step.args)
            lines.append(f"{step.output}={step.module}({args})")
        return "\n".join(lines)


def _literal(token: str):
    kind, _, body = token.partition(":")
    if kind == "var":
        return Var(body)
    if kind == "lit":
        return {"None": None, "True": True, "False": False}[body]
    if kind == "num":
        return float(body) if "." in body else int(body)
    raise ValueError(f"not a value token: {token}")


def replay(tokens: list[str], spec: Spec, inputs: Iterable[str]) -> DecodeState:
    """Feed tokens through a DecodeState, raising ValueError at the first one not allowed."""
    state = DecodeState(spec, inputs)
    for i, tok in enumerate(tokens + [EOS]):
        allowed, copy = state.allowed()
        ok = tok in allowed or (copy == "word" and tok.startswith("w:")) or (
            copy == "num" and tok.startswith("num:") and (
                state.phase == "expr" or any(a.startswith("num:") for a in allowed)))
        if not ok:
            raise ValueError(f"token {i} {tok!r} not allowed in phase {state.phase} "
                             f"(allowed: {allowed[:12]}...)")
        state.advance(tok)
    return state
