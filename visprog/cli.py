"""The `visprog` command line.

Any VisprogError ends the command with one line on stderr (`error: ...`) and exit
status 2; `--debug` (or VISPROG_DEBUG=1) prints the traceback instead. A run's
warnings go to stderr too, one line each (`warning: ...`). A reader that closes the
pipe early (`visprog tools | head -1`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from .errors import ProgramError, VisprogError


# Modules that add their own subcommands (`data`, `run`, `eval`, `repl`, `docs`) with
# `add_commands(sub)`, and the models each adds to `visprog train` with `add_train_commands(sub)`.
COMMAND_MODULES = ["visprog.iconworld.cli", "visprog.planners.cli", "visprog.evaluation.cli",
                   "visprog.repl"]
TRAIN_MODULES = ["visprog.models.cli", "visprog.models.vqa_cli", "visprog.planners.cli"]


def _load_plugin(spec: str) -> None:
    """Import a module (by dotted name or .py path) that registers tools or backends."""
    if spec.endswith(".py"):
        path = Path(spec)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or not path.is_file():
            raise VisprogError(f"--plugin {spec}: no such Python file")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def parse_images(pairs: list[str]) -> dict[str, str]:
    images = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.isidentifier() or not path:
            raise VisprogError(f"image argument {pair!r} must look like NAME=path (e.g. LEFT=a.png)")
        images[name] = path
    return images


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VisprogError(f"cannot read program file {path}: {exc}") from None


def print_result(result, args) -> None:
    """The value (or --json) on stdout; each warning of the run on stderr, where it cannot
    spoil the value a script reads."""
    from .values import jsonable
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(jsonable(result.value) if not isinstance(result.value, str) else result.value)
    if args.html:
        Path(args.html).write_text(result.html(), encoding="utf-8")
        print(f"rationale written to {args.html}", file=sys.stderr)


def cmd_exec(args) -> int:
    from .interpreter import execute
    result = execute(_read(args.program), parse_images(args.images),
                     backend=backend_choice(args.backend))
    print_result(result, args)
    return 0


def cmd_check(args) -> int:
    from .checker import check
    diagnostics = check(_read(args.program))
    for d in diagnostics:
        print(f"{args.program}:{d.line}:{d.column}: {d.severity}: {d.message}")
    errors = sum(d.severity == "error" for d in diagnostics)
    print(f"{errors} error(s), {len(diagnostics) - errors} warning(s)")
    return 1 if errors else 0


def cmd_tools(args) -> int:
    from .resolver import policy_order
    from .tools import default_registry
    for tool in default_registry():
        if args.verbose:
            backends = ", ".join(f"{b.name} ({b.kind})" for b in policy_order(tool)) or "none yet"
            print(f"{tool.describe()}\n    Aliases: {', '.join(tool.aliases) or '-'}\n"
                  f"    Backends: {backends}\n")
        else:
            print(f"{tool.signature()}\n    {tool.summary}")
    return 0


def output_options() -> argparse.ArgumentParser:
    """--json and --html, shared by the commands that run a program (`exec`, `run`)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="print the value and trace as JSON")
    p.add_argument("--html", metavar="FILE", help="write the rationale page here")
    return p


def backend_options() -> argparse.ArgumentParser:
    """--backend, shared by the commands that run a program (`exec`, `run`)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--backend", action="append", default=[], metavar="NAME|TOOL=NAME",
                   help="oracle, iconworld, pretrained, ... for every tool, or TOOL=NAME for "
                        "one (repeatable; also VISPROG_BACKEND); default: per tool, the builtin, "
                        "else the in-repo model, else pretrained weights, else the oracle on "
                        "icon-world images")
    return p


def debug_option() -> argparse.ArgumentParser:
    """--debug after the command name too (`visprog run ... --debug`)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the traceback of an error")
    return p


def run_options() -> list[argparse.ArgumentParser]:
    """The parents of a command that runs a program: output, backend and debug options."""
    return [output_options(), backend_options(), debug_option()]


def backend_choice(values: list[str]) -> Optional[Any]:
    """The backend choice of --backend values; None when none was given (VISPROG_BACKEND, else
    the default policy)."""
    from .resolver import parse_choice
    return parse_choice(values, source="--backend") if values else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visprog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", action="append", default=[],
                        help="import a module or .py file that registers tools/backends (repeatable)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also VISPROG_DEBUG=1)")
    parser.add_argument("--threads", type=positive_int, metavar="N", default=_env_threads(),
                        help="torch CPU threads (default: VISPROG_THREADS, else torch's choice)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("exec", help="run a program file on named images", parents=run_options())
    p.add_argument("program")
    p.add_argument("images", nargs="*", metavar="NAME=path")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("check", help="check a program file without running it",
                       parents=[debug_option()])
    p.add_argument("program")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("tools", help="list the registered tools")
    p.add_argument("-v", "--verbose", action="store_true", help="full docs, aliases and backends")
    p.set_defaults(func=cmd_tools)

    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    train = sub.add_parser("train", help="train an in-repo model on the icon world")
    models = train.add_subparsers(dest="model", required=True)
    for module in TRAIN_MODULES:
        importlib.import_module(module).add_train_commands(models)
    return parser


def one_line(exc: VisprogError) -> str:
    """An error as one line: a parse error with its place, a list (diagnostics, attempts)
    joined with '; ' and cut at 400 characters."""
    if isinstance(exc, ProgramError) and exc.line:
        return f"line {exc.line}, column {exc.column}: {exc.message}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0] + (" " + "; ".join(lines[1:]) if len(lines) > 1 else "")
    return text if len(text) <= 400 else text[:400].rstrip() + "... (--debug shows all)"


def whole_number(minimum: int):
    """The argparse type of a count of at least `minimum` (items, threads, batch sizes, ...)."""
    wanted = "a positive whole number" if minimum == 1 else f"a whole number of at least {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value
    return parse


positive_int = whole_number(1)


def _env_threads() -> Optional[int]:
    value = os.environ.get("VISPROG_THREADS", "").strip()
    if not value:
        return None
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError as exc:
        raise VisprogError(f"VISPROG_THREADS={value!r}: {exc}") from None


def _set_threads(n: Optional[int]) -> None:
    """Library code leaves torch's thread count alone; the command line sets it when asked."""
    if n is not None:
        import torch
        torch.set_num_threads(n)


def _debugging(argv: Optional[list[str]]) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--debug" in args or os.environ.get("VISPROG_DEBUG", "") not in ("", "0")


def _quiet_stdout() -> None:
    """After a broken pipe: send what is left of stdout nowhere, so exiting flushes quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Optional[list[str]] = None) -> int:
    debug = _debugging(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        for spec in args.plugin:
            _load_plugin(spec)
        _set_threads(args.threads)
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except VisprogError as exc:
        if debug:
            raise
        for warning in exc.warnings:  # what the run warned before it failed
            print(f"warning: {warning}", file=sys.stderr)
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader had enough (`visprog tools | head -1`): not an error
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
