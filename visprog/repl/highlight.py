"""Syntax highlighting of program lines and `:commands` at the REPL's prompt (a Pygments lexer)."""

from __future__ import annotations


def program_lexer():
    """The Pygments lexer class for what is typed at the prompt (Pygments is imported here)."""
    from pygments.lexer import RegexLexer, bygroups
    from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String,
                                Text)

    class ProgramLexer(RegexLexer):
        """Program lines and `:commands`."""

        name = "visprog"
        tokens = {
            "root": [
                (r"\s+", Text),
                (r"#.*$", Comment),
                (r"(:[a-z]+)(.*)$", bygroups(Keyword, Text)),
                (r"([A-Za-z_]\w*)(\s*)(=)(\s*)([A-Za-z_]\w*)(\s*)(\()",
                 bygroups(Name.Variable, Text, Operator, Text, Name.Function, Text, Punctuation),
                 "args"),
                (r".", Text),
            ],
            "args": [
                (r"\s+", Text),
                (r"\)", Punctuation, "#pop"),
                (r"([A-Za-z_]\w*)(\s*)(=)", bygroups(Name.Attribute, Text, Operator)),
                (r"[rRuU]?('''(\\.|[^\\])*?'''|\"\"\"(\\.|[^\\])*?\"\"\"|'(\\.|[^'\\\n])*'|\"(\\.|[^\"\\\n])*\")",
                 String),
                (r"'(\\.|[^'\\\n])*$|\"(\\.|[^\"\\\n])*$", String),  # unterminated, as typed
                (r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", Number),
                (r"(True|False|None)\b", Keyword.Constant),
                (r"[A-Za-z_]\w*", Name),
                (r"[\[\],]", Punctuation),
                (r"#.*$", Comment),
                (r".", Text),
            ],
        }

    return ProgramLexer
