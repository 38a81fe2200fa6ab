"""Generic config helpers on the ground floor: declared ranges, dataclass from a mapping, diffs.

Every config in monorobust is a frozen dataclass whose numeric fields state their allowed range
once, beside the field, in the annotation::

    @dataclass(frozen=True)
    class ProbeConfig:
        lr: Annotated[float, POSITIVE] = 1e-3
        \"\"\"Learning rate.\"\"\"

        def __post_init__(self) -> None:
            check_fields(self)

``check_fields`` (called first in every config's ``__post_init__``) and ``build_dataclass`` (the
YAML / command-line path, which knows the dotted key) enforce them with one mechanism. A float
field is always refused when NaN or infinite, with or without a declared range, so a NaN can
never slip through a check such as ``x <= 0`` (False for NaN).

Nothing here imports from the rest of monorobust but ``errors``: every layer may use it.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monorobust.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric field (or of each item of a tuple / each value of a mapping)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    integer: bool = False
    """The value must be a whole number (e.g. few-shot k stored as a float severity)."""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is outside the range (None when it is inside)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None                         # type errors are _convert's business
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value}"
        failed = [f"{op} {bound if isinstance(bound, int) else format(bound, 'g')}"
                  for name, op, holds in _BOUNDS
                  if (bound := getattr(self, name)) is not None and not holds(value, bound)]
        if failed:
            return f"must be {' and '.join(failed)}, got {value}"
        if self.integer and int(value) != value:
            return f"must be a whole number, got {value}"
        return None


_BOUNDS = (("gt", ">", operator.gt), ("ge", ">=", operator.ge), ("lt", "<", operator.lt),
           ("le", "<=", operator.le))

FINITE = Range()
POSITIVE = Range(gt=0)
NON_NEGATIVE = Range(ge=0)
AT_LEAST_1 = Range(ge=1)
FRACTION = Range(ge=0, lt=1)
"""A share that is allowed to be 0 but not 1 (rates, fractions held out)."""
OPEN_UNIT = Range(gt=0, lt=1)
PROBABILITY = Range(ge=0, le=1)
SEED = Range(ge=0, lt=2**63)
"""A seed: torch's generators take no more than 64 bits (a larger one was a traceback after
the run folder was claimed)."""


class FieldError(ConfigError):
    """Field ``name`` outside its declared range, reported under ``key`` (``ProbeConfig.lr``;
    ``build_dataclass`` re-raises it under the dotted key, ``probe.lr``)."""

    def __init__(self, key: str, reason: str, name: str) -> None:
        super().__init__(f"{key} {reason}")
        self.key, self.reason, self.name = key, reason, name


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``; ``(hint, False)`` otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            return inner[0], True
    return hint, False


def _range_of(hint: Any) -> tuple[Range | None, Any]:
    """The ``Range`` in an ``Annotated[...]`` hint (looking inside ``X | None``) and the bare type.

    A tuple of any length takes its items' range: ``tuple[Annotated[float, OPEN_UNIT], ...]``
    checks each item as ``Annotated[tuple[float, ...], OPEN_UNIT]`` does.
    """
    hint, _ = unwrap_optional(hint)
    if typing.get_origin(hint) is typing.Annotated:
        bare, *extras = typing.get_args(hint)
        return next((e for e in extras if isinstance(e, Range)), None), bare
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _range_of(args[0])[0], hint
    return None, hint


def _values(value: Any) -> list[Any]:
    """The scalars a range applies to: the value, a tuple's items, a mapping's values (nested)."""
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _values(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _values(v)]
    return [value]


def check_fields(obj: Any) -> None:
    """Raise ``FieldError`` for the first field of dataclass ``obj`` outside its declared range.

    Floats without a declared range must still be finite. The error names the key as a user
    writes it: ``SECTION.field`` where the class declares ``SECTION: ClassVar[str]`` (its place
    in the run config, e.g. "probe"; "" for top-level keys and flags), else ``ClassName.field``.
    """
    section = getattr(type(obj), "SECTION", type(obj).__name__)
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in dataclasses.fields(obj):
        rng, _ = _range_of(hints[f.name])
        for v in _values(getattr(obj, f.name)):
            problem = (rng or FINITE).problem(v)
            if problem:
                raise FieldError(f"{section}.{f.name}" if section else f.name, problem, f.name)


def check_distinct(key: str, values: Sequence[Any]) -> None:
    """Raise ``ConfigError`` when ``values`` (of config key ``key``) lists an item twice: a
    repeated seed, representation or severity would compute the same rows again and pass them
    off as more seeds (n = 2, std 0)."""
    repeated = [v for v in dict.fromkeys(values) if list(values).count(v) > 1]
    if repeated:
        raise ConfigError(f"{key} {list(values)} contain duplicates "
                          f"({', '.join(map(str, repeated))}); list each once")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Coerce a YAML value to the annotated type (tuples, nested dataclasses, optionals)."""
    origin = typing.get_origin(tp)
    if _is_dataclass_type(tp):
        return build_dataclass(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            raise ConfigError(f"{key}: write null, not the string {value!r}")
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key) if len(inner) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return tuple(_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key} must have {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        # YAML 1.1 (PyYAML) reads 3e-4, 1e3 and 1.0e30 as strings (its floats need a dot and a
        # signed exponent), though every reader writes a learning rate that way.
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and
                                             not (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{key} must be {tp.__name__}, got {value!r}")
    return value


def build_dataclass(cls: type, values: Any, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a (nested) mapping, rejecting unknown keys by name.

    A value outside its field's declared range is a ``ConfigError`` naming the dotted key
    (``probe.lr must be > 0, got nan``).
    """
    if values is None:
        values = {}
    if dataclasses.is_dataclass(values):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown config key {where!r}; known keys here: {', '.join(sorted(names))}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except FieldError as err:
        raise FieldError(f"{prefix}.{err.name}" if prefix else err.name, err.reason, err.name) from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (tuples as lists) for YAML/JSON output."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def config_diff(old: Any, new: Any, ignore: tuple[str, ...] = (), prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs (dataclasses or nested dicts).

    ``ignore`` lists dotted keys (a section's name ignores the whole section) that may differ.
    """
    a = to_dict(old) if dataclasses.is_dataclass(old) else old
    b = to_dict(new) if dataclasses.is_dataclass(new) else new
    keys = []
    for key in sorted(set(a) | set(b)):
        dotted = prefix + key
        if dotted in ignore:
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            keys += config_diff(x, y, ignore, f"{dotted}.")
        elif x != y:
            keys.append(dotted)
    return keys


def config_values(cfg: Any, keys: Sequence[str], limit: int = 60) -> str:
    """``key=value, ...`` of dotted ``keys`` in ``cfg`` (a dataclass or nested dict), each value
    as ``--set`` would take it (JSON-like), cut to ``limit`` characters: what a message needs to
    say what a recorded config holds."""
    import json

    tree = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    parts = []
    for key in keys:
        value: Any = tree
        for name in key.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        text = json.dumps(value, default=str)
        parts.append(f"{key}={text if len(text) <= limit else text[:limit - 3] + '...'}")
    return ", ".join(parts)


def read_yaml_mapping(path: Any) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (a preset, a run's config.yaml); ``ConfigError``
    naming the file, on one line, when it cannot be read, is not YAML, repeats a key (PyYAML
    would keep the last one silently) or holds something else than a mapping."""
    import yaml

    try:
        tree = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_strict_loader()) or {}
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML ({err.problem}{where}); fix it") from None
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:   # binary or unreadable files
        reason = " ".join(str(getattr(err, "strerror", None) or err).split())
        raise ConfigError(f"{path} is not valid YAML ({reason}); fix it") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, not a "
                          f"{type(tree).__name__}; fix it")
    return tree


def _strict_loader() -> type:
    """yaml.SafeLoader that refuses a key given twice in one mapping."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                    seen.add(key)
                except TypeError:                       # an unhashable key: PyYAML's own error
                    continue
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark)
            return super().construct_mapping(node, deep)

    return StrictLoader
