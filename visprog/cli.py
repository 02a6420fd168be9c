"""The `visprog` command line."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Optional

from .errors import VisprogError


# Modules that add their own subcommands (`data`, `run`, `repl`, `docs`) with
# `add_commands(sub)`, and the models each adds to `visprog train` with `add_train_commands(sub)`.
COMMAND_MODULES = ["visprog.iconworld.cli", "visprog.planners.cli", "visprog.repl"]
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


def parse_backend(values: list[str]) -> Optional[Any]:
    """`--backend oracle` picks one name for all tools; `--backend Loc=pretrained` per tool."""
    if not values:
        return None
    per_tool = dict(v.split("=", 1) for v in values if "=" in v)
    plain = [v for v in values if "=" not in v]
    if plain and per_tool:
        raise VisprogError("use either --backend NAME or --backend TOOL=NAME, not both")
    if len(plain) > 1:
        raise VisprogError("give one --backend NAME (or several TOOL=NAME)")
    return plain[0] if plain else per_tool


def jsonable(value: Any) -> Any:
    """A JSON-friendly view of a step value (images by size, objects as dicts)."""
    from PIL import Image
    from .values import Objects, Points
    if isinstance(value, Image.Image):
        return {"image": [value.width, value.height]}
    if isinstance(value, Objects):
        return [{"box": [round(v, 1) for v in o.box], "label": o.label, "score": round(o.score, 4)}
                for o in value]
    if isinstance(value, Points):
        return [[round(x, 1), round(y, 1)] for x, y in value]
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VisprogError(f"cannot read program file {path}: {exc}") from None


def print_result(result, args) -> None:
    if args.json:
        print(json.dumps({"value": jsonable(result.value), "steps": [
            {"line": s.line, "output": s.output, "module": s.module, "backend": s.backend,
             "seconds": round(s.seconds, 4), "value": jsonable(s.value), "notes": s.notes}
            for s in result.trace]}, indent=2))
    else:
        print(jsonable(result.value) if not isinstance(result.value, str) else result.value)
    if args.html:
        Path(args.html).write_text(result.html(), encoding="utf-8")
        print(f"rationale written to {args.html}", file=sys.stderr)


def cmd_exec(args) -> int:
    from .interpreter import execute
    result = execute(_read(args.program), parse_images(args.images),
                     backend=parse_backend(args.backend))
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
    from .tools import registry
    for tool in registry:
        if args.verbose:
            backends = ", ".join(f"{b}{' (default)' if b == tool.default_backend else ''}"
                                 for b in tool.backends) or "none yet"
            print(f"{tool.describe()}\n    Aliases: {', '.join(tool.aliases) or '-'}\n"
                  f"    Backends: {backends}\n")
        else:
            print(f"{tool.signature()}\n    {tool.summary}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visprog", description=__doc__)
    parser.add_argument("--plugin", action="append", default=[],
                        help="import a module or .py file that registers tools/backends (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("exec", help="run a program file on named images")
    p.add_argument("program")
    p.add_argument("images", nargs="*", metavar="NAME=path")
    p.add_argument("--json", action="store_true", help="print the value and trace as JSON")
    p.add_argument("--html", metavar="FILE", help="write the rationale page here")
    p.add_argument("--backend", action="append", default=[], metavar="NAME|TOOL=NAME")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("check", help="check a program file without running it")
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


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        for spec in args.plugin:
            _load_plugin(spec)
        return args.func(args)
    except VisprogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
