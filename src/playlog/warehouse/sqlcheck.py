"""Is this SQL one read-only SELECT? A lexer-level check before the database's own
read-only transaction (psycopg runs a parameterless ``execute`` as a simple query,
which would run several statements)."""

from __future__ import annotations

import re

from playlog.errors import BadRequest

# Strings, quoted identifiers, comments and semicolons, so that a ";" inside a string
# is not taken for the end of a statement. Where this lexer and PostgreSQL's could
# disagree (nested comments, E'' strings), it sees more semicolons, not fewer.
_LEXEME = re.compile(
    r"""
      (?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'
    | '(?:[^']|'')*'
    | "(?:[^"]|"")*"
    | --[^\n]*
    | /\*.*?\*/
    | (?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$
    | ;
    """,
    re.S | re.X,
)
_BLANK = re.compile(r"(?:\s|--[^\n]*|/\*.*?\*/)*", re.S)
_FIRST_WORD = re.compile(r"(?:\s|--[^\n]*|/\*.*?\*/|\()*(select|with)\b", re.S | re.I)


def single_select(sql: str) -> str:
    """``sql`` without a trailing ";" if it is one SELECT or WITH statement."""
    end = len(sql)
    for lexeme in _LEXEME.finditer(sql):
        if lexeme.group() == ";":
            if not _BLANK.fullmatch(sql, lexeme.end()):
                raise BadRequest("only one statement is allowed")
            end = lexeme.start()
            break
    statement = sql[:end]
    if not _FIRST_WORD.match(statement):
        raise BadRequest("only a single read-only SELECT (or WITH ... SELECT) is allowed")
    return statement
