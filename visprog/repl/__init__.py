"""`visprog repl`: type program lines and see each value at once.

    $ visprog repl IMAGE=photo.png
    visprog> BOX0=Loc(image=IMAGE, object='dog')
    BOX0 = Objects[dog@(12, 40, 88, 120)]   (preview: /tmp/visprog-repl-.../BOX0.png)
    visprog> :save dogs.vp

The REPL keeps one *session program*: every line that ran, in order. The session
program is always a valid program (a bad line is refused and changes nothing), so
`:save FILE` writes it and `visprog exec FILE IMAGE=photo.png` gives the same value.
Each line runs through the interpreter (`make_call`, `run_calls`) after the checker
has checked it as the next line of the session program.

| module | holds |
| --- | --- |
| `session.py` | `Session` (state, running lines, showing values, undo); needs no terminal, and is what the tests drive |
| `reply.py` | `Reply`: what one input produced |
| `commands.py` | the `:commands` (`:save`, `:plan`, `:backend`, ...) |
| `completion.py` | Tab completion |
| `highlight.py` | the Pygments lexer that highlights what is typed |
| `display.py` | value summaries, carets, inline terminal images |
| `terminal.py` | `visprog repl` (its arguments) and the prompt_toolkit loop |
"""

from .completion import completions
from .display import inline_image, value_kind
from .reply import Reply
from .session import Session
from .terminal import add_commands, cmd_repl, interact

__all__ = ["Reply", "Session", "add_commands", "cmd_repl", "completions", "inline_image",
           "interact", "value_kind"]
