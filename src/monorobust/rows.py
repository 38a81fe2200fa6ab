"""One mechanism for every experiment grid: typed rows, a row file, the runner, summary, table.

Every pipeline (``run``, ``evaluate.robustness``, ``evaluate_arrays``, ``finetune``, ``lora
classify`` and ``lora align``) is a grid of points x seeds whose cells each give one row:

- a row is a frozen dataclass deriving from ``Row``; its ``AXES`` name the fields that identify
  the cell it was produced under (seed last), its other fields are what was measured;
- a ``RowFile`` is a JSON-lines file of such rows (or a list in memory when there is no folder):
  it reads them typed, knows the keys already done, and appends each new row atomically;
- ``run_grid`` computes the cells not done yet, appending each row as soon as it exists, so a
  rerun of the same command skips finished cells;
- ``summarise`` gives mean, std (over seeds, ddof=1; NaN for one seed) and n per point, and
  ``format_table`` / ``mean_std_cell`` print it: each pipeline picks its columns.

Nothing here imports from monorobust but ``io`` and ``errors``: every layer may use it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from monorobust.errors import ConfigError
from monorobust.io import append_jsonl, read_jsonl_numbered

R = TypeVar("R", bound="Row")


@dataclasses.dataclass(frozen=True)
class Row:
    """Base of every result row. Subclasses are frozen dataclasses that set ``AXES``."""

    AXES: ClassVar[tuple[str, ...]] = ()
    """Fields naming the grid cell the row was produced under, seed last (the done-key)."""

    def key(self) -> tuple:
        return tuple(getattr(self, a) for a in self.AXES)

    def __getitem__(self, name: str) -> Any:
        """``row["accuracy"]``: rows were plain dicts before they were typed; reading one by
        name still works."""
        if name not in self.field_names():
            raise KeyError(name)
        return getattr(self, name)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_json(self) -> dict[str, Any]:
        """The row as written to its file; optional fields (default None) left unset are omitted."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: v for k, v in dataclasses.asdict(self).items()
                if not (v is None and defaults[k] is None)}

    @classmethod
    def from_json(cls: type[R], raw: dict[str, Any]) -> R:
        """A row from its file form: ints and floats coerced by annotation (JSON writes 5.0 as
        5.0 but YAML-born severities may be ints), keys this version does not know ignored.

        Raises ``ValueError`` naming the field when one is missing or of the wrong type (a
        hand-edited file): a row is never built from what its fields cannot hold."""
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ValueError(f"it has no {f.name!r}")
                continue
            values[f.name] = _coerce(raw[f.name], hints[f.name])
            if not _holds(values[f.name], hints[f.name]):
                raise ValueError(f"its {f.name!r} is {raw[f.name]!r}, not {_name(hints[f.name])}")
        return cls(**values)


def _kinds(hint: Any) -> tuple:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return typing.get_args(hint) if union else (hint,)


def _holds(value: Any, hint: Any) -> bool:
    """Whether ``value`` (coerced) is of the annotated type, looking one level deep."""
    for kind in _kinds(hint):
        base = typing.get_origin(kind) or kind
        if kind is Any or (kind is type(None) and value is None):
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if isinstance(base, type) and isinstance(value, base) and not (
                isinstance(value, bool) and base in (int, float)):
            return True
    return False


def _name(hint: Any) -> str:
    return " or ".join("null" if k is type(None) else getattr(typing.get_origin(k) or k,
                                                                 "__name__", str(k))
                       for k in _kinds(hint))


def _coerce(value: Any, hint: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    kinds = _kinds(hint)
    if float in kinds and isinstance(value, int):
        return float(value)
    if int in kinds and float not in kinds and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list) and any(typing.get_origin(k) is tuple for k in kinds):
        return tuple(value)
    return value


class RowFile(Generic[R]):
    """Typed rows of one JSON-lines file; ``path`` None keeps them in memory (no folder).

    ``where`` keeps only the rows it accepts (e.g. those of this config's fingerprint): the
    others stay in the file, untouched, and are neither read nor counted as done.
    """

    def __init__(self, path: str | Path | None, row_type: type[R],
                 where: Callable[[R], bool] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.row_type, self.where = row_type, where
        self._memory: list[R] = []

    def rows(self) -> list[R]:
        if self.path is None:
            return list(self._memory)
        rows = [self._typed(n, raw) for n, raw in read_jsonl_numbered(self.path)]
        return [r for r in rows if self.where is None or self.where(r)]

    def records(self) -> list[dict[str, Any]]:
        """The rows as written (lists, keys a newer version added), each checked as ``rows``
        checks it: the file is read once."""
        if self.path is None:
            return [r.to_json() for r in self._memory]
        kept = []
        for n, raw in read_jsonl_numbered(self.path):
            row = self._typed(n, raw)
            if self.where is None or self.where(row):
                kept.append(raw)
        return kept

    def _typed(self, line: int, raw: dict[str, Any]) -> R:
        try:
            return self.row_type.from_json(raw)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{self.path} line {line} is not a {self.row_type.__name__}: {err} "
                              "(edited by hand?); delete that line to recompute its row, and "
                              "rerun") from None

    def done(self) -> set[tuple]:
        return {r.key() for r in self.rows()}

    def append(self, row: R) -> None:
        """Append one row atomically: a reader or a crash never sees half of it."""
        if self.path is None:
            self._memory.append(row)
        else:
            append_jsonl(self.path, [row.to_json()])

    def select(self, keys: Sequence[tuple]) -> list[R]:
        """The rows of ``keys``, in that order (keys without a row are left out)."""
        found = {r.key(): r for r in self.rows()}
        return [found[k] for k in keys if k in found]


def run_grid(rows: RowFile[R], wanted: Sequence[tuple],
             compute: Callable[[list[tuple]], Iterable[R]],
             log: Callable[[R], None] | None = None) -> list[R]:
    """Compute the cells of ``wanted`` (done-keys, ``Row.key`` order) that ``rows`` lacks.

    ``compute(todo)`` yields one row per key of ``todo``, in any order and grouping it likes
    (one pretraining for many cells, worker processes); each is appended as soon as it comes.
    It is called even when ``todo`` is empty (a pipeline may have other pieces to finish, such
    as the run's metrics). Returns the rows of every wanted key, old and new, in ``wanted`` order.
    """
    done = rows.done()
    for row in compute([k for k in wanted if k not in done]):
        rows.append(row)
        if log is not None:
            log(row)
    return rows.select(wanted)


def summarise(table: Any, by: Sequence[str], metrics: Sequence[str]):
    """pandas DataFrame, one line per distinct ``by`` (first-seen order): ``by``, ``n`` (rows)
    and ``METRIC_mean`` / ``METRIC_std`` (over seeds, ddof=1, NaN for one seed; NaNs skipped).

    ``table``: rows (``Row`` or dicts) or a DataFrame.
    """
    import pandas as pd

    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(
        [r.to_json() if isinstance(r, Row) else r for r in table])
    columns = list(by) + ["n"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    if df.empty:
        return pd.DataFrame(columns=columns)
    g = df.groupby(list(by), sort=False, dropna=False)
    out = g[list(metrics)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out.insert(0, "n", g.size())
    return out.reset_index()[columns]


def mean_std_cell(mean: float, std: float, scale: float = 100.0) -> str:
    """``mean ± std`` (x ``scale``, one decimal); no ± for a single seed; "-" for no value."""
    if mean is None or math.isnan(mean):
        return "-"
    if std is None or math.isnan(std):
        return f"{scale * mean:.1f}"
    return f"{scale * mean:.1f} ± {scale * std:.1f}"


def format_table(header: Sequence[str], body: Sequence[Sequence[str]],
                 left: int | None = None) -> str:
    """A plain-text table: columns padded to their widest cell, a dashed rule under the header;
    the first ``left`` columns left-aligned, the rest right-aligned (default: all left)."""
    left = len(header) if left is None else left
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt = "  ".join(f"{{:<{w}}}" if i < left else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*row) for row in body]
    return "\n".join(line.rstrip() for line in lines)
