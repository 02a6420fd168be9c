"""Planner specs, as `visprog run --planner` and `visprog.run(planner="...")` take them.

    planner_from_spec("local")                       # the in-repo planner model
    planner_from_spec("local:runs/planner.safetensors")
    planner_from_spec("hf:models/my-llm")            # a local transformers causal LM folder

Nothing heavy is imported or loaded here: the spec is checked (the weights file or the
model folder exists and looks right) and the planner loads its model on first use. A bad
spec, a missing file or folder raises `PlannerError` naming it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PlannerError

SPECS = "'local', 'local:FILE.safetensors' or 'hf:DIR'"


def planner_from_spec(spec: str, **kwargs):
    """'local' (the in-repo model), 'local:FILE.safetensors', or 'hf:DIR' (a causal LM folder)."""
    if not isinstance(spec, str):
        raise PlannerError(f"a planner spec is a string ({SPECS}), got {type(spec).__name__}")
    kind, sep, arg = spec.partition(":")
    if kind == "local" and (arg or not sep):
        from .local import local_planner
        if arg:
            check_weights_file(arg)
            kwargs["weights"] = arg
        return local_planner(**kwargs)
    if kind == "hf" and arg:
        from .hf import hf_planner
        return hf_planner(arg, **kwargs)
    raise PlannerError(f"unknown planner {spec!r}: use {SPECS}")


def check_weights_file(path: str) -> Path:
    """The in-repo planner's weights file, or PlannerError saying what is wrong with it."""
    file = Path(path).expanduser()
    if not file.exists():
        raise PlannerError(f"planner weights {path}: no such file")
    if not file.is_file():
        raise PlannerError(f"planner weights {path}: not a file (give a .safetensors file)")
    if file.suffix != ".safetensors":
        raise PlannerError(f"planner weights {path}: not a .safetensors file")
    return file
