"""Command-line options generated from a frozen config dataclass: one ``--option`` per field.

The help text of each option is the string literal written under the field (read with ``ast``)
and its default the field's, so the config class stays the single place where a setting is
named, typed, defaulted, bounded and explained. A bad value is reported under the flag's name
(``--tf-sparsity must be < 1, got 1.0``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from typing import Any

from monorobust.errors import ConfigError
from monorobust.fields import FieldError, build_dataclass, unwrap_optional


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


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _or_null(kind: type) -> Any:
    """argparse type of an optional field: ``null`` (as in YAML) for None, else ``kind``."""

    def parse(text: str) -> Any:
        return None if text.lower() == "null" else kind(text)

    parse.__name__ = kind.__name__          # argparse names the type in its error message
    return parse


def add_set_option(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=VALUE`` (repeatable; VALUE in YAML): any config key, dotted for sections."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override any config key, e.g. --set {example} (YAML value)")


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``{"pretrain.epochs": 5, ...}`` from ``--set`` items; ConfigError for a malformed one."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set pretrain.epochs=5")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: the value is not YAML ({err.problem})") from None
    return out


def sets_for(args: argparse.Namespace, section: str = "") -> dict[str, Any]:
    """The ``--set`` values of ``section`` (its keys without the ``section.`` prefix); with no
    section, the keys without a dot."""
    items = parse_sets(getattr(args, "set", None) or [])
    if not section:
        return {k: v for k, v in items.items() if "." not in k}
    return {k[len(section) + 1:]: v for k, v in items.items() if k.startswith(section + ".")}


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type,
                            only: tuple[str, ...] | None = None, prefix: str = "") -> None:
    """Add ``--PREFIXfield-name`` for every field of ``cls`` (or those in ``only``; nested
    config sections are left to their own call); tuples take several values, booleans are
    ``--x / --no-x``, optional fields take ``null``. Options not given keep the field's default
    (or ``dataclass_from_args``'s base)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, optional = unwrap_optional(hints[f.name])
        if only is not None and f.name not in only or dataclasses.is_dataclass(hint):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        # Not given: no attribute at all (SUPPRESS), so "null" (None) and "absent" differ.
        kwargs: dict[str, Any] = {"dest": prefix + f.name, "default": argparse.SUPPRESS}
        if typing.get_origin(hint) is tuple:
            kwargs.update(nargs="+", type=typing.get_args(hint)[0])
            shown = " ".join(str(v) for v in default)
        elif hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
            shown = str(default)
        else:
            kind = hint if hint in (int, float, str) else str
            kwargs["type"] = _or_null(kind) if optional else kind
            shown = "null" if default is None else str(default)
        kwargs["help"] = f"{docs.get(f.name, '')} (default: {shown})".replace("%", "%%")
        parser.add_argument(_flag(prefix + f.name), **kwargs)


def dataclass_from_args(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None,
                        prefix: str = "", section: str = "") -> Any:
    """Build ``cls`` from ``base`` (e.g. a run's recorded section, or nested sections), then the
    ``--set`` values of ``section``, then the options ``add_dataclass_arguments(..., prefix)``
    added; errors name the flag (or the ``--set`` key)."""
    values = {**(base or {}), **sets_for(args, section)}
    flagged = [f.name for f in dataclasses.fields(cls) if hasattr(args, prefix + f.name)]
    for name in flagged:                                # given as options
        value = getattr(args, prefix + name)
        values[name] = list(value) if isinstance(value, (list, tuple)) else value
    try:
        return build_dataclass(cls, values, section)
    except FieldError as err:
        if err.name not in flagged:                     # from --set or the base: its key
            raise
        raise ConfigError(f"{_flag(prefix + err.name)} {err.reason}") from None
