"""Fuzz visprog's contract on untrusted input.

    .venv/bin/python benchmarks/fuzz.py --n 100000                 # the full run (README, Safety)
    .venv/bin/python benchmarks/fuzz.py --n 3000 --seconds 60      # the smoke run of `make test`

The contract: every failure on user input is a `visprog.VisprogError`; every call returns
within a time limit and with bounded memory; nothing reads a file outside visprog's own
folders, writes one or starts a process; and `parse(str(p)) == p` for every program
`parse` accepts.

Inputs (deterministic for a --seed): programs from a grammar-aware generator (the
registry's tools with arguments of every kind, Eval expressions from the expression
grammar), mutations of seed programs (the icon world's gold programs, the 55 VisProg
programs and the 108 escape payloads of tests/data), and image files and bytes, broken
in many ways. Targets: parse (and the round trip), check, compile_expr + evaluate,
execute on the oracle and on the default backends, Result.html(), and image loading.

Each input runs in a worker process that this one watches:
- time: over --timeout seconds (plus --step-ms per program line where a program runs)
  is a finding; a worker still busy at --kill seconds is killed and restarted;
- memory: RSS growth over --memory-mb (plus 64 KB per line for pages) is a finding;
- a canary: an audit hook in the worker refuses and records any file opened outside
  the allowed folders, any file written, renamed or removed, any process or socket;
  the payloads are also run aimed at a canary file whose contents must never show;
- any exception that is not a VisprogError, and any failed round trip.
Findings are minimised (delta debugging) and written to --findings as JSON.
Prints a table per target (inputs, outcomes, rate, slowest) and the slowest inputs;
exits 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import heapq
import io
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
TARGETS = {  # name -> share of the inputs
    "parse": 0.22, "check": 0.15, "expr": 0.25, "execute-oracle": 0.22,
    "execute-default": 0.01, "html": 0.02, "image": 0.13,
}
MAX_INPUT = 1_000_000  # characters: 10x the program limit, so that the limits are tried
STEP_MS = {"execute-oracle": 20, "html": 30, "execute-default": 400}  # time allowed per line

# --- seeds and generators (parent process) ---------------------------------------------------

WORDS = ["dog", "cats", "the red car", "person", "boat", "left", "right", "How many dogs are there?",
         "Is the cat left of the tree?", "What color is the car?", "farm animals", "cowboy_hat_face",
         "a lush green meadow", "yes", "no", "three", "2", "", " ", "dog ?", "\u00e9t\u00e9",
         "\U0001d54f\u200b\u202e", "\U0001f436", "tab\there", "new\nline", "nul\x00byte", "\x1b[31m",
         "'quote'", '"double"', "back\\slash", "{ANSWER0}", "{x}", "%s%n", "\ud800"]
RUN_UNITS = ["?", " ", ".", "a", "the ", "x is left of the ", "\t", "(", "'", "\\", "{A}", "9",
             ",", "how many ", "on the left ", "find ", "\n", "\x01", "\u00e9"]
HUGE = [10 ** 18, 10 ** 19, 2 ** 63, 2 ** 64, 10 ** 99 - 1, -(10 ** 99 - 1), 99999999999999999999]
FLOATS = ["1e308", "1e-320", "-0.0", "0.1", "1e999", "2.5", ".5", "5.", "1e+100"]
FUNCTIONS = ["len", "min", "max", "abs", "int", "float", "str", "round", "bool",
             "eval", "open", "getattr", "__import__", "lambda", "exec"]
BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or", "xor"]


def read_seeds() -> tuple[list[str], list[str]]:
    """(programs, payloads): the gold programs of each icon-world task, the VisProg programs
    and the escape payloads (copied into tests/data; see tests/data/README.md)."""
    from visprog.iconworld.tasks import generate_item
    programs = [generate_item(task, 777, i)["program"]
                for task in ("nlvr", "gqa", "edit", "tag") for i in range(12)]
    text = (DATA / "visprog_prompt_programs.txt").read_text(encoding="utf-8")
    for block in text.split("### ")[1:]:
        programs.append(block.split("\n", 1)[1].replace("{list_max}", "20").strip())
    payloads = (DATA / "escape_payloads.txt").read_text(encoding="utf-8").split("\n")
    return programs, [p for p in payloads if p]


@dataclass
class Generator:
    rng: random.Random
    programs: list[str]
    payloads: list[str]
    tools: list  # the registry's tools
    canary: str  # a file whose contents must never show
    valid: list[str] = field(default_factory=list)  # the seed programs that parse

    def __post_init__(self):
        from visprog.errors import VisprogError
        from visprog.program import parse
        for text in self.programs:
            try:
                parse(text)
                self.valid.append(text)
            except VisprogError:
                pass

    def text(self, long: bool = True) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(WORDS)
        if r < 0.6:
            return self.payload()
        if r < 0.8 or not long:
            alphabet = "ab ?.'\"\\\t\n\r{}()[]=,_-0123456789\x00\x01\x7f\u00e9\u200b\U0001f436"
            return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(1, 24)))
        unit = self.rng.choice(RUN_UNITS)
        n = self.rng.choice([100, 500, 1999, 2000, 2001, 3000, 20000]) // len(unit)
        return self.rng.choice(["", "how many ", "is the ", "point to "]) + unit * n + \
            self.rng.choice(["", "x", "?", " dog"])

    def payload(self) -> str:
        p = self.rng.choice(self.payloads)
        return p.replace("/etc/passwd", self.canary) if self.rng.random() < 0.5 else p

    def string_literal(self, value: str) -> str:
        style = self.rng.random()
        if style < 0.7 or "\n" in value or "\x00" in value:
            return repr(value)
        if style < 0.8 and "'" not in value and "\\" not in value:
            return f"r'{value}'"
        if style < 0.9 and '"""' not in value and not value.endswith('"') and "\\" not in value:
            return f'"""{value}"""'
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def number(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return str(self.rng.randint(-3, 30))
        if r < 0.75:
            return str(self.rng.choice(HUGE))
        return self.rng.choice(FLOATS)

    def expression(self, names: list[str], depth: int = 0) -> str:
        r = self.rng.random()
        if depth > 4 or r < 0.3:
            atom = self.rng.random()
            if atom < 0.3 and names:
                return "{" + self.rng.choice(names) + "}"
            if atom < 0.55:
                return self.number()
            if atom < 0.85:
                return self.string_literal(self.text(long=False))
            return self.rng.choice(["True", "False", "None", "x", "__class__", "()"])
        if r < 0.6:
            return f"{self.expression(names, depth + 1)} {self.rng.choice(BINARY)} " \
                   f"{self.expression(names, depth + 1)}"
        if r < 0.75:
            args = ", ".join(self.expression(names, depth + 1) for _ in range(self.rng.randint(0, 3)))
            return f"{self.rng.choice(FUNCTIONS)}({args})"
        if r < 0.85:
            return f"{self.expression(names, depth + 1)} if {self.expression(names, depth + 1)} " \
                   f"else {self.expression(names, depth + 1)}"
        if r < 0.93:
            return f"({self.expression(names, depth + 1)})"
        return self.rng.choice(["not ", "-", "+", "--"]) + self.expression(names, depth + 1)

    def program(self) -> str:
        """1-8 steps of random tools with arguments of the right kind, mostly."""
        kinds: dict[str, frozenset] = {n: frozenset({"Image"}) for n in ("IMAGE", "LEFT", "RIGHT")}
        lines = []
        for i in range(self.rng.randint(1, 8)):
            tool = self.rng.choice(self.tools)
            if any(p.kinds & {"Objects", "Points"} and not any(k & p.kinds for k in kinds.values())
                   for p in tool.params if p.required):  # find something first
                lines.append(f"FOUND{i}=Loc(image=IMAGE, object={self.string_literal(self.text())})")
                kinds[f"FOUND{i}"] = frozenset({"Objects"})
            args = [f"{p.name}={self.value(tool, p, kinds)}" for p in tool.params
                    if p.required or self.rng.random() < 0.5]
            if self.rng.random() < 0.1 and args:
                args.pop(self.rng.randrange(len(args)))
            if self.rng.random() < 0.1:
                args.append(f"{self.rng.choice(['objekt', 'img', 'x'])}={self.number()}")
            output = f"{self.rng.choice(['ANSWER', 'BOX', 'IMAGE', 'OBJ', 'LIST'])}{i}"
            lines.append(f"{output}={tool.name}({', '.join(args)})")
            kinds[output] = tool.output
        lines.append(f"FINAL_RESULT=Result(var={output})")
        return "\n".join(lines)

    def value(self, tool, param, kinds: dict) -> str:
        """Mostly a value of a kind the parameter takes; sometimes any value."""
        if tool.reads_variables and param.name == "expr":
            return self.string_literal(self.expression(list(kinds)))
        accepted = param.kinds if self.rng.random() < 0.9 else frozenset({"any"})
        fitting = [n for n, k in kinds.items() if k & accepted or "any" in accepted | k]
        if fitting and (self.rng.random() < 0.7 or not accepted & {"str", "int", "list[str]", "any"}):
            return self.rng.choice(fitting)
        if accepted & {"str", "any"} and self.rng.random() < 0.8:
            return self.string_literal(self.text())
        if accepted & {"list[str]", "any"} and self.rng.random() < 0.8:
            return "[" + ", ".join(self.string_literal(self.text(long=False))
                                   for _ in range(self.rng.randint(0, 4))) + "]"
        return self.number()

    def new_values(self, text: str) -> str:
        """A seed program with some literal values replaced: it still parses and checks, so
        the new values reach the tools."""
        from visprog.program import Arg, Program, parse
        program = parse(text)
        steps = []
        for step in program.steps:
            args = tuple(Arg(a.name, self.text() if isinstance(a.value, str) and a.name != "expr"
                             and self.rng.random() < 0.5 else a.value) for a in step.args)
            steps.append(type(step)(step.output, step.module, args))
        return str(Program(tuple(steps)))

    def mutate(self, text: str) -> str:
        for _ in range(self.rng.randint(1, 4)):
            text = text[:MAX_INPUT]
            n = len(text)
            a = self.rng.randint(0, n)
            b = min(n, a + self.rng.randint(0, 40))
            op = self.rng.random()
            if op < 0.25:
                text = text[:a] + self.rng.choice(WORDS + ["'", '"', "(", ")", ",", "=", "\n", "#", "[",
                                                           "]", "\\", "r'", "'''"]) + text[a:]
            elif op < 0.4:
                text = text[:a] + text[b:]
            elif op < 0.55 and b > a:
                text = text[:a] + text[a:b] * self.rng.choice([2, 10, 100, 2500]) + text[b:]
            elif op < 0.65:
                text = text[:a] + self.number() + text[a:]
            elif op < 0.75:
                lines = text.split("\n")
                line = self.rng.choice(lines)
                lines.insert(self.rng.randrange(len(lines) + 1), line)
                text = "\n".join(lines) if self.rng.random() < 0.8 else \
                    "\n".join(lines + [line] * self.rng.choice([100, 2100]))
            elif op < 0.85:
                other = self.rng.choice(self.programs).split("\n")
                text = text[:a] + self.rng.choice(other) + text[a:]
            elif op < 0.92:
                text = text[:a] + self.string_literal(self.payload()) + text[a:]
            else:
                text = text[:a] + self.text() + text[b:]
        return text[:MAX_INPUT]

    def program_input(self, runs: bool) -> str:
        """A program; for targets that run it (`runs`), mostly one that checks."""
        r = self.rng.random() * (1.0 if not runs else 0.7)
        if r < 0.3:
            return self.program()
        if r < 0.5 or runs and r < 0.6:
            return self.new_values(self.rng.choice(self.valid))
        if r < 0.8:
            return self.mutate(self.rng.choice(self.programs))
        if r < 0.9:
            return f"ANSWER0=Eval(expr={self.string_literal(self.payload())})\nFINAL=Result(var=ANSWER0)"
        return self.mutate(self.program())

    def expression_input(self) -> tuple[str, dict]:
        r = self.rng.random()
        names = ["ANSWER0", "ANSWER1", "X"]
        text = (self.expression(names) if r < 0.5 else self.payload() if r < 0.75
                else self.mutate(self.rng.choice(self.payloads)))
        values = [self.text(), self.rng.choice(HUGE), 1e308, -0.0, True, "yes", "three", [1, 2],
                  "1e999", "9" * 101, "x" * 10000]
        return text, {n: self.rng.choice(values) for n in names}

    def image_input(self, files: dict) -> tuple[str, object]:
        r = self.rng.random()
        if r < 0.4:
            data = bytearray(self.rng.choice(files["samples"]))
            for _ in range(self.rng.randint(1, 8)):
                op, at = self.rng.random(), self.rng.randrange(len(data))
                if op < 0.5:
                    data[at] = self.rng.randrange(256)
                elif op < 0.7:
                    del data[at:]
                    data += b"\x00"
                else:
                    data[at:at] = b"\xff" * self.rng.choice([1, 4, 1000])
            return "bytes", bytes(data)
        if r < 0.7:
            return "path", self.rng.choice(files["paths"])
        name = "".join(self.rng.choice("a/.\x00\u00e9~$ ") for _ in range(self.rng.randint(1, 20)))
        return "path", name * self.rng.choice([1, 30, 300])


def image_files(folder: Path) -> dict:
    """Sample image bytes in several formats, and paths that break in different ways."""
    from PIL import Image
    from visprog.iconworld.render import random_scene
    image, _ = random_scene(3, n_objects=2, width=64, height=48)
    samples = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO"):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        samples.append(buffer.getvalue())
    (folder / "good.png").write_bytes(samples[0])
    (folder / "truncated.png").write_bytes(samples[0][:200])
    (folder / "empty.png").write_bytes(b"")
    with open(folder / "huge.bin", "wb") as f:  # sparse: 300 MB that use no disk
        f.truncate(300 * 1024 * 1024)
    (folder / "folder.png").mkdir()
    os.mkfifo(folder / "pipe.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    Image.new("RGB", (8000, 6000)).save(folder / "big.png")  # 48 Mpx: over the pixel limit
    paths = [str(folder / n) for n in ("good.png", "truncated.png", "empty.png", "huge.bin",
                                       "folder.png", "pipe.png", "loop.png", "big.png", "nope.png")]
    paths += ["a" * 300 + ".png", "/etc/passwd", "/proc/self/mem", "/dev/zero", str(folder / "good.png/x")]
    return {"samples": samples, "paths": paths}


def inputs(gen: Generator, files: dict, targets: dict):
    """An endless stream of (target, data), targets drawn by their share."""
    names, weights = list(targets), list(targets.values())
    while True:
        target = gen.rng.choices(names, weights)[0]
        if target == "expr":
            yield target, gen.expression_input()
        elif target == "image":
            yield target, gen.image_input(files)
        else:
            yield target, gen.program_input(runs=target not in ("parse", "check"))


# --- the worker (child process) --------------------------------------------------------------

class Canary:
    """An audit hook that, while armed, refuses and records file access outside `allowed`
    folders, any change to the file system and any process or network use."""

    FORBIDDEN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                 "os.forkpty", "pty.spawn", "os.kill", "socket.connect", "socket.bind", "os.remove",
                 "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
                 "os.truncate", "os.utime", "shutil.rmtree", "ctypes.dlopen", "webbrowser.open")

    def __init__(self, allowed: list[str]):
        self.allowed = tuple(os.path.realpath(a) for a in allowed)
        self.armed = False
        self.given = None  # a path the current input names
        self.events: list[str] = []
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple) -> None:
        if not self.armed:
            return
        if event == "open" and args[0] == self.given:
            return  # the image file the input names: reading it is the point
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                return
            path = os.fsdecode(path)
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writes or not os.path.realpath(path).startswith(self.allowed):
                self._refuse(f"open {path!r:.120} mode={mode!r}")
        elif event.startswith(self.FORBIDDEN):
            self._refuse(f"{event} {str(args)[:120]}")

    def _refuse(self, what: str) -> None:
        self.events.append(what)
        raise PermissionError(f"fuzz canary: {what}")


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def worker_main(conn, folder: str, secret: str) -> None:
    import warnings
    warnings.simplefilter("ignore")  # Pillow's warnings about the broken files it is fed
    os.environ["VISPROG_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)
    import visprog
    from visprog.expr import compile_expr
    from visprog.iconworld.render import random_scene
    from visprog.program import parse

    scenes = {name: random_scene(seed, n_objects=(2, 5))[0]
              for name, seed in (("IMAGE", 11), ("LEFT", 12), ("RIGHT", 13))}

    def run_parse(text):
        program = parse(text)
        again = parse(str(program))  # a ProgramError here is a finding too: it was accepted
        if again != program:
            raise AssertionError("parse(str(p)) != p")
        return str(program)

    def run_expr(data):
        text, variables = data
        return repr(compile_expr(text).evaluate(variables))

    def run_image(data):
        _, source = data
        return repr(visprog.execute("X=Result(var=IMAGE)", {"IMAGE": source}).value)

    targets = {
        "parse": run_parse,
        "check": lambda text: repr(visprog.check(text)),
        "expr": run_expr,
        "execute-oracle": lambda text: repr(visprog.execute(text, scenes, backend="oracle").value),
        "execute-default": lambda text: repr(visprog.execute(text, scenes).value),
        "html": lambda text: visprog.execute(text, scenes, backend="oracle").html(),
        "image": run_image,
    }
    warm = "B=Loc(image=IMAGE, object='dog')\nA=Vqa(image=IMAGE, question='How many dogs?')\n" \
           "P=Point(image=IMAGE, object='cat')\nC=Classify(image=IMAGE, object=B, categories=['dog'])\n" \
           "S=Seg(image=IMAGE)\nR=Replace(image=IMAGE, object=S, prompt='a cat')\nT=Seg(image=IMAGE, object=B)"
    # every model is loaded here, before the watch: a first load is not an input's growth
    visprog.execute(warm, scenes)
    visprog.execute(warm, scenes, backend="oracle").html()
    import site
    canary = Canary([str(Path(visprog.__file__).parent), sys.prefix, sys.base_prefix, folder,
                     *site.getsitepackages(), "/proc/self", f"/proc/{os.getpid()}", "/sys/devices",
                     "/dev/null", "/dev/urandom", "/usr/share/fonts", "/usr/lib", "/usr/local/lib"])
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        target, data = message
        canary.events.clear()
        canary.given = data[1] if target == "image" and data[0] == "path" else None
        start = time.perf_counter()
        canary.armed = True
        try:
            shown, outcome = targets[target](data), "ok"
        except (visprog.ProgramError, visprog.CheckError) as exc:
            shown, outcome = str(exc), "rejected"
        except visprog.VisprogError as exc:
            shown, outcome = str(exc), "error"
        except BaseException as exc:  # noqa: BLE001 - every other exception is a finding
            shown, outcome = f"{type(exc).__name__}: {exc}", f"exception {type(exc).__name__}"
        finally:
            canary.armed = False
        seconds = time.perf_counter() - start
        if canary.events:
            shown, outcome = "; ".join(canary.events[:3]), "canary"
        elif secret in shown:
            outcome = "canary"
        conn.send((outcome, shown[:300], seconds))


# --- the watcher (parent process) ------------------------------------------------------------

class Worker:
    def __init__(self, folder: str, secret: str):
        self.folder, self.secret, self.proc = folder, secret, None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=worker_main, args=(child, self.folder, self.secret),
                                    daemon=True)
        self.proc.start()
        if not self.conn.poll(600) or self.conn.recv() != "ready":
            raise SystemExit("the fuzz worker did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.proc = None

    def run(self, target: str, data, kill_s: float, memory_bytes: int) -> tuple[str, str, float]:
        """(outcome, detail, seconds); outcome 'hang', 'memory' or 'crash' when it was stopped."""
        if self.proc is None:
            self.start()
        base = peak = rss_bytes(self.proc.pid)
        self.conn.send((target, data))
        start = time.monotonic()
        while not self.conn.poll(0.005):
            peak = max(peak, rss_bytes(self.proc.pid))
            stopped = ("memory" if peak - base > memory_bytes else
                       "hang" if time.monotonic() - start > kill_s else
                       "crash" if not self.proc.is_alive() else None)
            if stopped:
                self.stop()
                return stopped, f"RSS +{(peak - base) >> 20} MB", time.monotonic() - start
        outcome, detail, seconds = self.conn.recv()
        peak = max(peak, rss_bytes(self.proc.pid))
        if outcome in CONTRACT and peak - base > memory_bytes:
            return "memory", f"RSS +{(peak - base) >> 20} MB", seconds
        return outcome, detail, seconds


@dataclass
class Limits:
    timeout: float
    kill: float
    memory_mb: int

    def of(self, target: str, data) -> tuple[float, int]:
        """(seconds, bytes) one input may take: programs that run get more per line."""
        lines = data.count("\n") + 1 if isinstance(data, str) else 1
        seconds = self.timeout + STEP_MS.get(target, 0) / 1000 * lines
        memory = self.memory_mb << 20 if target != "html" else (self.memory_mb << 20) + lines * 65536
        return seconds, memory


CONTRACT = ("ok", "rejected", "error")  # a value, a ProgramError/CheckError, another VisprogError


def finding_kind(outcome: str, seconds: float, limit: float) -> str | None:
    if outcome in CONTRACT:
        return "slow" if seconds > limit else None
    return outcome


def _shrinkable(data):
    """(the text or bytes to shrink, how to put an input back together from it)."""
    if isinstance(data, str):  # a program
        return data, lambda text: text
    if data[0] in ("bytes", "path"):  # an image
        return data[1], lambda text: (data[0], text)
    return data[0], lambda text: (text, data[1])  # an expression and its variables


def minimise(data, still_fails, budget_s: float = 30.0):
    """Delta debugging: drop chunks of the input while the same finding remains, within
    `budget_s` seconds."""
    text, rebuild = _shrinkable(data)
    deadline, chunks = time.monotonic() + budget_s, 2
    while len(text) > 1 and time.monotonic() < deadline:
        size = max(1, len(text) // chunks)
        for start in range(0, len(text), size):
            candidate = text[:start] + text[start + size:]
            if time.monotonic() > deadline:
                break
            if still_fails(rebuild(candidate)):
                text, chunks = candidate, max(chunks - 1, 2)
                break
        else:
            if size == 1:
                break
            chunks = min(len(text), chunks * 2)
    return rebuild(text)


@dataclass
class Tally:
    inputs: int = 0
    ok: int = 0
    rejected: int = 0
    errors: int = 0
    findings: int = 0
    seconds: float = 0.0
    slowest: float = 0.0


@dataclass
class Report:
    tallies: dict = field(default_factory=dict)
    slowest: list = field(default_factory=list)  # heap of (seconds, target, preview)
    findings: list = field(default_factory=list)

    def add(self, target: str, data, outcome: str, seconds: float, kind: str | None) -> None:
        tally = self.tallies.setdefault(target, Tally())
        tally.inputs += 1
        tally.seconds += seconds
        tally.slowest = max(tally.slowest, seconds)
        tally.ok += outcome == "ok"
        tally.rejected += outcome == "rejected"
        tally.errors += outcome == "error"
        tally.findings += kind is not None
        heapq.heappush(self.slowest, (seconds, target, preview(data)))
        if len(self.slowest) > 10:
            heapq.heappop(self.slowest)

    def print(self, wall: float) -> None:
        print("\nvalue: returned one; rejected: ProgramError or CheckError; error: another "
              "VisprogError (at run time)")
        print(f"{'target':16} {'inputs':>8} {'value':>7} {'rejected':>9} {'error':>7} {'findings':>9} "
              f"{'inputs/s':>9} {'slowest s':>10}")
        for name, t in sorted(self.tallies.items(), key=lambda kv: -kv[1].inputs):
            rate = t.inputs / t.seconds if t.seconds else float("inf")
            print(f"{name:16} {t.inputs:8d} {t.ok:7d} {t.rejected:9d} {t.errors:7d} {t.findings:9d} "
                  f"{rate:9.0f} {t.slowest:10.3f}")
        total = sum(t.inputs for t in self.tallies.values())
        print(f"{'all':16} {total:8d} {'':7} {'':9} {'':7} {len(self.findings):9d} "
              f"{total / wall:9.0f} {'':10}  ({wall:.0f} s wall)")
        print("\nslowest inputs:")
        for seconds, target, shown in sorted(self.slowest, reverse=True):
            print(f"  {seconds:7.3f} s  {target:16} {shown}")


def preview(data, limit: int = 70) -> str:
    text = repr(data)
    return text if len(text) <= limit else f"{text[:limit - 20]}...{text[-12:]} ({len(text)} chars)"


def write_finding(folder: Path, n: int, target: str, kind: str, detail: str, data, minimal) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{n:03d}-{target}-{kind.replace(' ', '-')}.json"

    def jsonable(value):
        if isinstance(value, bytes):
            return {"bytes_hex": value.hex()}
        if isinstance(value, tuple):
            return [jsonable(v) for v in value]
        if isinstance(value, dict):
            return {k: repr(v) for k, v in value.items()}
        return value
    path.write_text(json.dumps({"target": target, "kind": kind, "detail": detail,
                                "minimal": jsonable(minimal), "input": jsonable(data)},
                               ensure_ascii=True, indent=1), encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000, help="inputs to run (default 10000)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds one input may take")
    parser.add_argument("--kill", type=float, default=30.0, help="seconds before a worker is killed")
    parser.add_argument("--memory-mb", type=int, default=100, help="RSS growth one input may cause")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset")
    parser.add_argument("--findings", default="out/fuzz-findings", help="folder for reproducers")
    args = parser.parse_args(argv)
    chosen = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown or args.n < 1:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}" if unknown
                     else "--n must be at least 1")

    from visprog.tools import default_registry
    programs, payloads = read_seeds()
    limits = Limits(args.timeout, args.kill, args.memory_mb)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="visprog-fuzz-") as tmp:
        folder = Path(tmp)
        secret = f"canary-{random.Random(args.seed).getrandbits(64):016x}"
        canary = folder / "canary.txt"
        canary.write_text(secret)
        files = image_files(folder)
        gen = Generator(random.Random(args.seed), programs, payloads, list(default_registry()),
                        str(canary))
        worker = Worker(str(folder), secret)
        print("fuzz: starting the worker (models load once) ...", file=sys.stderr, flush=True)
        worker.start()
        start = last = time.monotonic()
        stream = inputs(gen, files, {t: TARGETS[t] for t in chosen})
        try:
            for i in range(args.n):
                if args.seconds is not None and time.monotonic() - start > args.seconds:
                    break
                target, data = next(stream)
                limit, memory = limits.of(target, data)
                outcome, detail, seconds = worker.run(target, data, max(args.kill, limit), memory)
                kind = finding_kind(outcome, seconds, limit)
                report.add(target, data, outcome, seconds, kind)
                if kind is not None:
                    def same(candidate) -> bool:
                        outcome, _, seconds = worker.run(target, candidate, args.kill, memory)
                        return finding_kind(outcome, seconds, limit) == kind
                    minimal = minimise(data, same) if len(report.findings) < 20 else data
                    path = write_finding(Path(args.findings), len(report.findings), target, kind,
                                         detail, data, minimal)
                    report.findings.append(path)
                    print(f"FINDING {target} {kind}: {detail[:150]} -> {path}", file=sys.stderr)
                if time.monotonic() - last > 10:
                    last = time.monotonic()
                    print(f"fuzz: {i + 1}/{args.n} inputs, {len(report.findings)} findings, "
                          f"{(i + 1) / (last - start):.0f}/s", file=sys.stderr, flush=True)
        finally:
            worker.stop()
        report.print(time.monotonic() - start)
    print(f"\n{len(report.findings)} findings" + (f" (reproducers in {args.findings}/)"
                                                  if report.findings else ""))
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
