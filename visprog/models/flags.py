"""Command-line flags generated from a config dataclass: one function for every `visprog train`.

    add_config_flags(parser, CLIPConfig, rename={"max_steps": "steps"})
    config = config_from_flags(args, CLIPConfig)

Each field becomes `--field-name` (or `--<rename[field]>`), typed from its default (a bool
gets `--x/--no-x`, a tuple `nargs='+'`), defaulting to the dataclass's default, with the
field's trailing `# comment` (or `metadata["help"]`) as its help. So a config's defaults and
their meaning are written once, in the model file. Imports no torch.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
from typing import Iterable, Optional

from ..cli import positive_int


def field_comments(config_cls) -> dict[str, str]:
    """{field: its trailing comment} read from the class's source ({} when not available)."""
    try:
        source = textwrap.dedent(inspect.getsource(config_cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    out = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = lines[node.end_lineno - 1]
            if "#" in line:
                out[node.target.id] = line.split("#", 1)[1].strip()
    return out


def add_config_flags(parser: argparse.ArgumentParser, config_cls, *, skip: Iterable[str] = (),
                     rename: Optional[dict[str, str]] = None) -> list[argparse.Action]:
    """Add one flag per field of `config_cls` (except `skip`) and return the actions added."""
    rename, skip = rename or {}, set(skip)
    comments = field_comments(config_cls)
    actions = []
    for f in dataclasses.fields(config_cls):
        if f.name in skip or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + rename.get(f.name, f.name).replace("_", "-")
        text = f.metadata.get("help") or comments.get(f.name, "")
        kw: dict = {"dest": f.name, "default": default,
                    "help": f"{text} (default: %(default)s)" if text else "default: %(default)s"}
        if isinstance(default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, tuple):
            kw.update(nargs="+", type=type(default[0]) if default else str)
        elif default is not None:
            kw["type"] = type(default)
        actions.append(parser.add_argument(flag, **kw))
    return actions


def config_from_flags(args: argparse.Namespace, config_cls, **overrides):
    """`config_cls` built from the parsed flags that name its fields (tuples kept tuples),
    then `overrides`."""
    values = {}
    for f in dataclasses.fields(config_cls):
        if f.init and hasattr(args, f.name) and getattr(args, f.name) is not None:
            v = getattr(args, f.name)
            values[f.name] = tuple(v) if isinstance(v, list) else v
    return config_cls(**{**values, **overrides})


def add_run_flags(parser: argparse.ArgumentParser, model: str, *, init: bool = True) -> list[argparse.Action]:
    """The flags every training command shares: --out, --threads and (optionally) --init."""
    actions = [parser.add_argument("--out", default=None,
                                   help=f"weights file (default: the {model} entry of `visprog.models."
                                        f"weights_path`, honouring VISPROG_WEIGHTS)"),
               parser.add_argument("--threads", type=positive_int, default=None,
                                   help="torch CPU threads (default: torch's own choice; 1 was fastest "
                                        "on a small, shared CPU)")]
    if init:
        actions.append(parser.add_argument("--init", default=None,
                                           help="continue training from these weights"))
    return actions


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's thread count when --threads was given (library code never does)."""
    if getattr(args, "threads", None):
        import torch
        torch.set_num_threads(args.threads)


def command_line(prefix: str, args: argparse.Namespace, actions: Iterable[argparse.Action]) -> str:
    """The command with every option in `actions` spelled out, defaults too (kept in weights)."""
    words = [prefix]
    for action in actions:
        value, flag = getattr(args, action.dest), action.option_strings[0]
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):
            words.append(f"{flag} {' '.join(map(str, value))}")
        elif value is not None:
            words.append(f"{flag} {value}")
    return " ".join(words)


def add_train_command(models, name: str, module: str, help: str) -> None:
    """Add `visprog train <name>`, whose flags `<module>.main(argv)` parses (`module` a dotted
    name under visprog.models). The module is imported only when the command runs, so
    `visprog --help` imports no torch; `visprog train <name> --help` prints its full flags."""
    p = models.add_parser(name, help=help, add_help=False, prefix_chars="+",
                          description=f"{help}. Flags: visprog train {name} --help")
    p.add_argument("argv", nargs="*", help="the flags of `visprog train %s`" % name)
    p.set_defaults(func=lambda args: _run_train(module, args.argv))


def _run_train(module: str, argv: list[str]) -> int:
    import importlib
    return importlib.import_module(f"visprog.models.{module}").main(argv)
