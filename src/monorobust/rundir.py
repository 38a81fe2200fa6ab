"""The run folder: one object that owns every path in it, its rows, its config and its lock.

A run folder (``monorobust run --out DIR``; ``pretrain``, ``sae``, ``finetune`` and ``report``
continue in it) holds:

- ``config.yaml``: the resolved ``RunConfig``, under ``results_format`` (see ``RESULTS_FORMAT``).
- ``results.jsonl``: one ``ResultRow`` per representation x scenario x severity x seed.
- ``metrics.jsonl``: one row per representation x seed: ``metrics.FeatureMetrics`` fields on the
  clean test features (seed null for bring-your-own arrays).
- ``summary.csv``: representation, scenario, severity, mean, std, n, realised_noise_rate.
- ``features/REP-seedS-test.safetensors``: clean test features ("features", (N, D)) and
  "labels" of each representation and seed, in the order of ``data.prepare.prepare_splits(cfg.data).test``,
  with their SHA-256 in the metadata (checked by the report).
- ``checkpoints/OBJECTIVE-seedS/epoch-XXXX.safetensors``: pretraining checkpoints.
- ``posthoc/REP-seedS/``: fitted post-hoc maps (the SAE of ``cl+sae``); ``sae/``: ``monorobust
  sae``'s checkpoints.
- ``finetune.jsonl``: one ``FinetuneRow`` per fine-tuning of ``monorobust finetune``; ``toy/``: the toy models' results.
- ``study.jsonl``: one ``StudyRow`` per cell of ``monorobust study``; ``study/``: its features.
- ``run.json``: wall time, versions, hardware; ``report.html``, ``report.md``, ``figures/``.
- ``.lock``: held by the one process writing here (``monorobust.lock``).

Ground floor: imports only ``io``, ``lock``, ``fields``, ``rows`` and ``errors``; configs are
passed in, their classes read from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import (build_dataclass, config_diff, config_values, read_yaml_mapping,
                               to_dict)
from monorobust.io import (CACHE_CHECKSUM, append_jsonl, atomic_write_bytes, atomic_write_text,
                           read_jsonl, read_jsonl_numbered, tensor_checksum, write_json)
from monorobust.lock import LOCK_NAME, hold_folder
from monorobust.rows import Row, RowFile, summarise

RESULTS_FORMAT = 3
"""Version of what a folder's rows mean. Bumped when the same config draws different numbers
(then rows of two versions must not be mixed in one folder); recorded in config.yaml and
run.json, and a folder of another version is refused by ``RunDir.claim``.

1: before it was recorded. 2: every derived seed from ``seeding.derive_seed`` (the label-noise
and few-shot draws of each grid point, fine-tuning's, the toy's downstream sweep, lora
classify's batch order changed; pretraining's did not). 3: the SAE's AuxK loss is openai's
batch-normalised MSE (it was a mean of per-sample ratios), so SAEs trained with AuxK, and the
rows and metrics of cl+sae / frozen+sae, change; and the corrupt scenario takes CIFAR-10-C's
parameters on images up to 64 px (``grid.corruption_calibration`` "auto";
``perturb.calibration``: CIFAR-10-C's tables, their pixel lengths x min(H, W) / 32), so its rows
of such images change (larger images: ImageNet-C's via corrupt-tta, as before)."""
FORMAT_KEY = "results_format"

FEATURES_CHECKSUM = CACHE_CHECKSUM
"""Metadata key of the saved test features' SHA-256 (files from before it have none)."""


@dataclass(frozen=True)
class ResultRow(Row):
    """One grid cell of a run: a probe's accuracy under one scenario at one severity."""

    AXES: ClassVar[tuple[str, ...]] = ("representation", "scenario", "severity", "seed")

    representation: str
    scenario: str
    severity: float
    severity_name: str
    seed: int
    accuracy: float
    """On the clean or perturbed test split, 0-1."""
    realised_noise_rate: float
    """Share of training labels actually changed (0 for test-time scenarios)."""
    per_class_accuracy: tuple[float, ...] | None = None
    """(C,) test accuracy of each class."""
    train_accuracy: float | None = None
    """On the labels the probe saw (possibly noisy)."""
    val_accuracy: float | None = None
    best_step: int | None = None
    n_train: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class StudyRow(Row):
    """One cell of the study: a probe's test accuracy under one protocol, regime and noise."""

    AXES: ClassVar[tuple[str, ...]] = ("representation", "protocol", "n_per_class", "noise_type",
                                       "scenario", "severity", "seed")

    representation: str
    protocol: str
    n_per_class: int
    """Labelled training examples per class (0: all)."""
    noise_type: str
    """Label-noise type, or "none" (clean labels: the clean and input-noise points)."""
    scenario: str
    """"clean", "label_noise" or the input-noise scenario ("gaussian_noise")."""
    severity: float
    """Label-noise rate, or input-noise std (0 for clean)."""
    seed: int
    accuracy: float
    realised_noise_rate: float
    l2: float
    """The L2 strength the probe trained with (chosen on validation by ``tuned-l2``)."""
    val_accuracy: float | None = None
    train_accuracy: float | None = None
    best_step: int | None = None
    n_train: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class FinetuneRow(Row):
    """One fine-tuning: an initialisation x head x setting x seed, with its per-epoch history."""

    AXES: ClassVar[tuple[str, ...]] = ("objective", "head", "scenario", "severity", "seed")

    objective: str
    """The pretrained encoder it starts from ("cl", "ncl")."""
    head: str
    """"standard" (on g(f(x))) or "mono" (on relu(g(f(x))))."""
    scenario: str
    severity: float
    seed: int
    test_accuracy: float
    """Of the epoch selected on validation."""
    best_epoch: int
    train_accuracy: float
    """At the selected epoch, on the (possibly noisy) labels trained on."""
    train_accuracy_clean: float
    """At the selected epoch, on the true labels of the same images."""
    val_accuracy: float
    final_train_accuracy: float
    final_val_accuracy: float
    realised_noise_rate: float
    n_train: int
    n_val: int
    nonneg_share: float
    """Share of classifier inputs >= 0 on the test split."""
    seconds: float
    history: tuple[dict[str, Any], ...] = ()
    """``EpochRecord`` fields of every epoch."""
    config: dict[str, Any] | None = None
    """The ``FinetuneConfig`` it ran under."""


class RunDir:
    """Every path of a run folder, its result rows, config, summary and write lock."""

    CONFIG, RUN_INFO, RESULTS, METRICS = "config.yaml", "run.json", "results.jsonl", "metrics.jsonl"
    SUMMARY, FINETUNE, REPORT_HTML, REPORT_MD = "summary.csv", "finetune.jsonl", "report.html", "report.md"
    STUDY = "study.jsonl"
    """``monorobust study``'s rows (its cached features go under ``study/``)."""
    COMPUTED = (RESULTS, METRICS, "checkpoints", "features", "posthoc")
    """What a run computes under the settings its config.yaml records."""
    LAYOUT = frozenset((CONFIG, RUN_INFO, SUMMARY, FINETUNE, REPORT_HTML, REPORT_MD, STUDY,
                        *COMPUTED, "sae", "figures", "toy", "study"))
    """Every name a run folder holds at its top (hidden ones aside: the lock, a write cut short)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    # -- paths ------------------------------------------------------------------------------
    def checkpoints(self, objective: str, seed: int) -> Path:
        """Folder of one encoder's pretraining checkpoints."""
        return self.root / "checkpoints" / f"{objective}-seed{seed}"

    def features(self, representation: str, seed: int) -> Path:
        return self.root / "features" / f"{representation}-seed{seed}-test.safetensors"

    def study_features(self, representation: str, seed: int) -> Path:
        """``monorobust study``'s cached train / val / test features of one representation."""
        return self.root / "study" / f"features-{representation}-seed{seed}.safetensors"

    def study_posthoc(self, representation: str, seed: int) -> Path:
        """Where the study refits a post-hoc map it could not reload from ``posthoc/``."""
        return self.root / "study" / "posthoc" / f"{representation}-seed{seed}"

    def posthoc(self, representation: str, seed: int) -> Path:
        return self.root / "posthoc" / f"{representation}-seed{seed}"

    @property
    def sae(self) -> Path:
        return self.root / "sae"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def toy(self) -> Path:
        return self.root / "toy"

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    # -- rows -------------------------------------------------------------------------------
    @property
    def results(self) -> RowFile[ResultRow]:
        return RowFile(self.root / self.RESULTS, ResultRow)

    def load_results(self, order: Sequence[tuple] = ()):
        """results.jsonl as a DataFrame, each row checked on the way (``RowFile.rows``: one
        edited by hand is an error naming its line); the columns of ``ResultRow`` when empty.

        ``order``: done-keys (``ResultRow.AXES``) to put the rows in (rows of other keys after
        them, in file order), so that what is computed from them (line order, float sums) does
        not depend on the order they were appended in: a resumed run computes in another.
        """
        import pandas as pd

        rows = self.results.records()        # as written, each checked as a ResultRow
        rank = {key: i for i, key in enumerate(order)}
        rows = sorted(rows, key=lambda row: rank.get(tuple(row.get(a) for a in ResultRow.AXES),
                                                     len(rank)))      # stable; 1 == 1.0 as keys
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else list(ResultRow.field_names()))

    def load_study(self):
        """study.jsonl (``monorobust study``'s rows) as a DataFrame, each row checked on the way,
        as ``load_results`` checks its rows; empty when there are none."""
        import pandas as pd

        return pd.DataFrame(RowFile(self.root / self.STUDY, StudyRow).records())

    def load_metrics(self):
        """metrics.jsonl as a DataFrame; a row edited by hand (a metric that is not a number, a
        representation that is not a name) is an error naming its line, as in results.jsonl
        (the report failed on one with a TypeError from matplotlib)."""
        import pandas as pd

        path = self.root / self.METRICS
        rows = []
        for n, row in read_jsonl_numbered(path):
            bad = [k for k, v in row.items() if k not in ("representation", "seed")
                   and not (v is None or isinstance(v, (int, float)) and not isinstance(v, bool))]
            if not isinstance(row.get("representation"), str):
                bad.insert(0, "representation")
            if not (row.get("seed") is None or isinstance(row["seed"], int)
                    and not isinstance(row["seed"], bool)):
                bad.insert(0, "seed")
            if bad:
                raise ConfigError(f"{path} line {n} has a value of the wrong type in "
                                  f"{', '.join(bad)} (edited by hand?); delete that line to "
                                  "recompute its row, and rerun")
            rows.append(row)
        return pd.DataFrame(rows)

    def load_finetune(self):
        """finetune.jsonl as a DataFrame, each row checked on the way, as ``load_results``
        checks its rows (a value edited by hand was left out of a mean without a word)."""
        import pandas as pd

        return pd.DataFrame(RowFile(self.root / self.FINETUNE, FinetuneRow).records())

    def metrics_done(self) -> set[tuple[str, Any]]:
        return {(r["representation"], r["seed"]) for r in read_jsonl(self.root / self.METRICS)}

    def append_metrics(self, representation: str, seed: int | None, metrics: Any) -> None:
        """One metrics.jsonl row: ``metrics`` is a ``metrics.FeatureMetrics``."""
        append_jsonl(self.root / self.METRICS,
                     [{"representation": representation, "seed": seed, **metrics._asdict()}])

    def save_features(self, representation: str, seed: int, features, labels) -> None:
        """Clean test features (N, D) and labels (N,) of one representation, for the report,
        with the SHA-256 of the two (``io.tensor_checksum``) in the file's metadata."""
        from safetensors.torch import save

        tensors = {"features": features.contiguous(), "labels": labels.contiguous()}
        atomic_write_bytes(self.features(representation, seed),
                           save(tensors, metadata={FEATURES_CHECKSUM: tensor_checksum(tensors)}))

    def feature_files(self, representations, seeds) -> dict[tuple[str, int], Path]:
        """(representation, seed) -> saved test features, for those that exist."""
        return {(r, s): self.features(r, s) for r in representations for s in seeds
                if self.features(r, s).exists()}

    def write_summary(self, order: Sequence[tuple] = ()):
        """Write summary.csv from results.jsonl, its rows taken in ``order`` (``load_results``);
        returns it (``summarize_results``)."""
        summary = summarize_results(self.load_results(order))
        atomic_write_text(self.root / self.SUMMARY, summary.to_csv(index=False))
        return summary

    # -- config, provenance, lock -----------------------------------------------------------
    def _read_tree(self) -> dict[str, Any]:
        return read_yaml_mapping(self.root / self.CONFIG)

    def results_format(self) -> int | None:
        """The results format config.yaml records (1 for folders from before it was recorded);
        None without config.yaml."""
        if not (self.root / self.CONFIG).exists():
            return None
        found = self._read_tree().get(FORMAT_KEY, 1)
        if not isinstance(found, int) or isinstance(found, bool):
            raise ConfigError(f"{self.root / self.CONFIG}: {FORMAT_KEY} must be a whole number "
                              f"(this version writes {RESULTS_FORMAT}), got {found!r}; fix it")
        return found

    def read_config(self, cls: type, fix: str = "fix it") -> Any:
        """config.yaml as a ``cls`` (fields added since compare at their defaults); None when
        there is none; ``ConfigError`` naming the file and ending in ``fix`` when it does not
        load."""
        if not (self.root / self.CONFIG).exists():
            return None
        tree = self._read_tree()
        tree.pop(FORMAT_KEY, None)
        tree.pop("preset", None)
        try:
            return build_dataclass(cls, tree)
        except ConfigError as err:
            raise ConfigError(f"{self.root / self.CONFIG} is not a config this version reads "
                              f"({err}); {fix}") from None

    def write_config(self, cfg: Any) -> None:
        import yaml

        text = yaml.safe_dump({FORMAT_KEY: RESULTS_FORMAT, **to_dict(cfg)}, sort_keys=False)
        atomic_write_text(self.root / self.CONFIG, text)

    def claim(self, cfg: Any, ignore: tuple[str, ...] = (), extend: tuple[str, ...] = ()) -> Any:
        """Check that the folder is empty or holds a run ``cfg`` may continue; the config to
        record. ``ignore``: keys that may differ (speed, bookkeeping); ``extend``: tuple keys
        whose values only add rows (the recorded config gets the union). Writes nothing.

        Raises ConfigError, before any work, naming the keys that differ; or, without
        config.yaml, what the folder holds that a new run may not start on (``_check_unclaimed``).
        """
        fix = "pass a new --out, or delete the folder to start over"
        self.check_format(fix)
        then = self.read_config(type(cfg), fix)
        if then is None:
            self._check_unclaimed()
            return cfg
        changed = config_diff(then, cfg, ignore=ignore + extend)
        if changed:
            raise ConfigError(f"{self.root} holds a run with a different config (differs in: "
                              f"{', '.join(changed)}); it was made with "
                              f"{config_values(then, changed)}: to continue it give the same "
                              f"(--set KEY=VALUE, or --preset {self.root / self.CONFIG}), or "
                              f"{fix}")
        union = {k: tuple(dict.fromkeys(getattr(then, k) + getattr(cfg, k))) for k in extend}
        return replace(cfg, **union)

    def _check_unclaimed(self) -> None:
        """ConfigError when the folder, which has no config.yaml, holds what a run computed (under
        settings that are now unknown) or anything a run does not write (it is not a run folder)."""
        names = {p.name for p in self.root.iterdir() if not p.name.startswith(".")} \
            if self.root.is_dir() else set()
        computed = sorted(names.intersection(self.COMPUTED))
        if computed:
            raise ConfigError(f"{self.root} holds {', '.join(computed)} but no {self.CONFIG}, so "
                              "the settings they were computed with are unknown; restore "
                              f"{self.CONFIG}, or pass a new --out")
        foreign = sorted(names - self.LAYOUT)
        if foreign:
            raise ConfigError(f"{self.root} is not empty and holds no run (it holds "
                              f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                              "pass a new or empty folder with --out, or the folder of a run")

    def check_format(self, fix: str = "pass a new --out, or delete the folder to start over") -> None:
        """ConfigError when the folder's rows were drawn by another results format."""
        found = self.results_format()
        if found is not None and found != RESULTS_FORMAT:
            raise ConfigError(f"{self.root} was written with results format {found}, this version "
                              f"writes format {RESULTS_FORMAT} (its random draws differ, so rows "
                              f"of the two cannot be mixed); {fix}")

    def read_run_info(self) -> dict[str, Any] | None:
        """run.json, or None when there is none; ValueError when it is damaged, or when a field
        that run and report read has another type than run writes (they failed on it with a
        TypeError / format-code traceback)."""
        path = self.root / self.RUN_INFO
        if not path.exists():
            return None
        info = json.loads(path.read_bytes())
        if not isinstance(info, dict):
            raise ValueError(f"holds a {type(info).__name__}, not an object")
        number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
        numbers = lambda v: isinstance(v, dict) and all(map(number, v.values()))  # noqa: E731
        for key, ok, what in (("seconds", number, "a number"),
                              ("pretrain_processes", lambda v: number(v) and v == int(v),
                               "a whole number"),
                              ("pretrain_images_per_second", numbers, "a mapping of numbers"),
                              ("pretrain_steady_images_per_second", numbers,
                               "a mapping of numbers"),
                              ("phase_seconds", numbers, "a mapping of numbers"),
                              ("versions", lambda v: isinstance(v, dict), "a mapping")):
            if key in info and not ok(info[key]):
                raise ValueError(f"its {key!r} is {info[key]!r}, not {what}")
        return info

    def write_run_info(self, info: dict[str, Any]) -> None:
        write_json(self.root / self.RUN_INFO, {**info, FORMAT_KEY: RESULTS_FORMAT})

    @contextmanager
    def hold(self, command: str, create: bool = True) -> Iterator[RunDir]:
        """Hold the folder's write lock while the block runs (``lock.hold_folder``)."""
        with hold_folder(self.root, command, create=create):
            yield self


def summarize_results(results) -> Any:
    """Mean, std (over seeds, ddof=1; NaN for one seed) and n of accuracy per grid point, and
    the mean realised noise rate: summary.csv's columns."""
    s = summarise(results, ResultRow.AXES[:-1], ("accuracy", "realised_noise_rate"))
    s = s.rename(columns={"accuracy_mean": "mean", "accuracy_std": "std",
                          "realised_noise_rate_mean": "realised_noise_rate"})
    return s[list(ResultRow.AXES[:-1]) + ["mean", "std", "n", "realised_noise_rate"]]


def format_results_table(summary, order: list[str] | None = None) -> str:
    """Scenario x severity rows, one column per representation, cells ``mean ± std`` in %."""
    from monorobust.rows import format_table, mean_std_cell

    if summary.empty:
        return "(no results yet)"
    reps = order or list(dict.fromkeys(summary["representation"]))
    points = list(dict.fromkeys(zip(summary["scenario"], summary["severity"])))
    cell = {(r.representation, r.scenario, r.severity): r for r in summary.itertuples()}
    body = [[scen, f"{sev:g}"] + [mean_std_cell(r.mean, r.std) if (r := cell.get((rep, scen, sev)))
                                  else "-" for rep in reps] for scen, sev in points]
    return format_table(["scenario", "severity"] + reps, body, left=2)
