"""Command-line options generated from a frozen config dataclass (one ``--option`` per field).

The help text of each option is the string literal written under the field (read with ``ast``),
so the config class stays the single place where a setting is named, defaulted and explained.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from typing import Any


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring under it in the class body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--field-name`` for every field of ``cls`` (tuples take several values)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        default = f.default
        kwargs: dict[str, Any] = {"dest": f.name, "default": None}
        if typing.get_origin(hint) is tuple:
            kwargs.update(nargs="+", type=typing.get_args(hint)[0])
            shown = " ".join(str(v) for v in default)
        else:
            kwargs["type"] = hint if hint in (int, float, str) else str
            shown = str(default)
        kwargs["help"] = f"{docs.get(f.name, '')} (default: {shown})".replace("%", "%%")
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def dataclass_from_args(cls: type, args: argparse.Namespace) -> Any:
    """Build ``cls`` from the parsed options, keeping the class defaults for options not given."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
