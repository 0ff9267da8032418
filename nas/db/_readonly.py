"""The guard in front of ``nas db sql``: one read-only statement, or a clear refusal.

Two layers keep a query from changing anything. The connection itself is read-only
(SQLite opened with ``mode=ro`` and ``query_only``; PostgreSQL sessions with
``default_transaction_read_only`` and a ``READ ONLY`` transaction), so the server refuses
writes. This module refuses, before anything runs, what a read-only connection still
allows: several statements, ATTACH/DETACH, PRAGMAs that set something, session
settings (SET, set_config), and functions with side effects outside the data (advisory
locks, sequences, backend signals, server files, extensions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nas.errors import UserError

# Words that only occur in statements that change data, schema or session state.
_WRITE_WORDS = frozenset({
    "insert", "update", "delete", "merge", "upsert", "create", "drop", "alter", "truncate",
    "attach", "detach", "vacuum", "reindex", "grant", "revoke", "copy", "call", "do", "set",
    "reset", "lock", "into", "commit", "begin", "rollback", "savepoint", "release", "listen",
    "notify", "unlisten", "prepare", "execute", "deallocate", "refresh", "cluster", "discard",
    "checkpoint", "reassign",
})  # fmt: skip
# Function names (or prefixes) with effects beyond reading rows.
_WRITE_FUNCTION_PREFIXES = (
    "set_config", "nextval", "setval", "lo_", "pg_advisory", "pg_try_advisory", "dblink",
    "pg_terminate", "pg_cancel", "pg_reload", "pg_rotate", "pg_switch", "pg_promote",
    "pg_create_", "pg_drop_", "pg_replication", "pg_logical", "pg_notify", "pg_read",
    "pg_ls_", "pg_stat_file", "pg_file", "query_to_xml", "cursor_to_xml", "load_extension",
    "writefile", "readfile", "fts3_tokenizer",
)  # fmt: skip
_FIRST_WORDS = frozenset({"select", "with", "values", "explain", "table", "show", "pragma"})
# SQLite pragmas that only read: name -> whether it takes a (table or index) argument.
_READ_PRAGMAS = {
    "table_info": True, "table_xinfo": True, "index_list": True, "index_info": True,
    "index_xinfo": True, "foreign_key_list": True, "foreign_key_check": False,
    "table_list": False, "database_list": False, "compile_options": False,
    "collation_list": False, "function_list": False, "pragma_list": False,
    "module_list": False, "encoding": False, "page_count": False, "page_size": False,
    "freelist_count": False, "user_version": False, "application_id": False,
    "schema_version": False, "data_version": False, "journal_mode": False,
    "integrity_check": False, "quick_check": False,
}  # fmt: skip


class SQLRefused(UserError):
    """A ``nas db sql`` statement that could change the database or the session."""


@dataclass(frozen=True)
class _Token:
    kind: str  # "word" | "punct" | "semicolon" | "literal"
    text: str
    pos: int


def _tokens(sql: str, dialect: str) -> list[_Token]:
    """Words and punctuation outside comments, strings and quoted identifiers."""
    out: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            i = _block_comment_end(sql, i)
        elif char in "'\"`" or (char == "[" and dialect == "sqlite"):
            escape = char == "'" and dialect == "postgresql" and _is_escape_string(sql, i)
            end = _quoted_end(sql, i, "]" if char == "[" else char, escape)
            out.append(_Token("literal", sql[i:end], i))
            i = end
        elif char == "$" and dialect == "postgresql" and (tag := re.match(r"\$\w*\$", sql[i:])):
            close = sql.find(tag.group(), i + len(tag.group()))
            if close < 0:
                raise SQLRefused(f"unterminated {tag.group()} string at offset {i}")
            end = close + len(tag.group())
            out.append(_Token("literal", sql[i:end], i))
            i = end
        elif char.isalpha() or char == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_$]*", sql[i:])
            assert match is not None
            out.append(_Token("word", match.group().lower(), i))
            i += match.end()
        else:
            out.append(_Token("semicolon" if char == ";" else "punct", char, i))
            i += 1
    return out


def _is_escape_string(sql: str, i: int) -> bool:
    return (
        i > 0 and sql[i - 1] in "eE" and (i == 1 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
    )


def _block_comment_end(sql: str, start: int) -> int:
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise SQLRefused(f"unterminated /* comment at offset {start}")


def _quoted_end(sql: str, start: int, close: str, backslash_escapes: bool) -> int:
    i = start + 1
    while i < len(sql):
        if backslash_escapes and sql[i] == "\\":
            i += 2
        elif sql[i] == close:
            if sql.startswith(close * 2, i) and close != "]":
                i += 2  # a doubled quote stands for itself
            else:
                return i + 1
        else:
            i += 1
    raise SQLRefused(f"unterminated {sql[start]} quote at offset {start}")


def check_read_only(sql: str, dialect: str) -> str:
    """Return ``sql`` without a trailing ``;`` if it is one read-only statement.

    ``dialect`` is SQLAlchemy's dialect name ("sqlite", "postgresql", ...). Raises
    :class:`SQLRefused` naming the word that makes the statement unsafe.

    >>> check_read_only("SELECT study_name FROM studies;", "sqlite")
    'SELECT study_name FROM studies'
    """
    tokens = _tokens(sql, dialect)
    while tokens and tokens[-1].kind == "semicolon":
        tokens.pop()
    if not tokens:
        raise SQLRefused("the SQL statement is empty")
    if any(t.kind == "semicolon" for t in tokens):
        raise SQLRefused(
            "nas db sql runs one statement at a time: remove the ';' between statements"
        )
    first = tokens[0]
    if first.kind != "word" or first.text not in _FIRST_WORDS:
        raise SQLRefused(
            f"nas db sql only reads: a statement starting with {sql[first.pos :].split()[0]!r} "
            "is refused (use SELECT, WITH, VALUES, EXPLAIN or a read-only PRAGMA)"
        )
    if first.text == "pragma":
        _check_pragma(tokens, dialect)
    for index, token in enumerate(tokens):
        if token.kind != "word":
            continue
        word = token.text
        after_explain = index > 0 and tokens[index - 1].text == "explain"
        if word == "analyze" and after_explain and dialect == "postgresql":
            continue
        if word in _WRITE_WORDS or word == "analyze":
            raise SQLRefused(f"nas db sql only reads: {word.upper()!r} is refused")
        if word.startswith(_WRITE_FUNCTION_PREFIXES):
            raise SQLRefused(f"nas db sql only reads: the function {word}() is refused")
    last = tokens[-1]
    return sql[: last.pos + len(last.text)].strip()


def _check_pragma(tokens: list[_Token], dialect: str) -> None:
    if dialect != "sqlite":
        raise SQLRefused("PRAGMA is SQLite's: this database is not SQLite")
    # PRAGMA [schema.]name[(arg)]
    name_index = 3 if len(tokens) > 2 and tokens[2].text == "." else 1
    if name_index >= len(tokens) or tokens[name_index].kind != "word":
        raise SQLRefused("PRAGMA needs a name, e.g. PRAGMA table_info(trials)")
    name = tokens[name_index].text
    rest = tokens[name_index + 1 :]
    if name not in _READ_PRAGMAS:
        raise SQLRefused(
            f"PRAGMA {name} is refused: only pragmas that read are allowed "
            f"({', '.join(sorted(_READ_PRAGMAS))})"
        )
    if any(t.text == "=" for t in rest) or (rest and not _READ_PRAGMAS[name]):
        raise SQLRefused(f"PRAGMA {name} with a value changes a setting: it is refused")
