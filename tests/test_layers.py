"""The house's layers (CONTRIBUTING.md): every import of a monorobust module points down or
sideways within its layer, and no two packages import each other. Imports inside functions count
too: a lazy import that climbs is still a climb."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import monorobust

ROOT = Path(monorobust.__file__).parent

# Bottom to top, as in CONTRIBUTING.md. The longest matching prefix places a module.
LAYERS = [
    ("ground", ["errors", "registry", "fields", "flags", "checks", "io", "lock", "seeding", "rows",
                "rundir", "workers"]),
    ("building blocks", ["data", "models", "objectives", "perturb", "metrics"]),
    ("methods", ["train", "sae", "evaluate", "adapters", "theory", "finetune.config",
                 "finetune.loop"]),
    ("run config", ["config"]),
    ("report", ["report"]),
    ("orchestration", ["experiment", "study", "finetune.runner", "finetune"]),
    ("command line", ["commands", "cli", "__main__", ""]),
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best, length = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".") or p == "") and len(p) > length:
                best, length = i, len(p)
    return best


def _imports() -> dict[str, set[str]]:
    """module -> the monorobust modules it imports (relative to the package, "" for the root)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        here = _module(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "monorobust":
                base = node.module.removeprefix("monorobust").lstrip(".")
                names = [a.name for a in node.names] if not base else [None]
                edges[here] |= {base if n is None else n for n in names}
            elif isinstance(node, ast.Import):
                edges[here] |= {a.name.removeprefix("monorobust").lstrip(".")
                                for a in node.names if a.name.split(".")[0] == "monorobust"}
    return edges


def test_every_module_has_a_layer():
    assert all(_layer(m) is not None for m in _imports())


def test_imports_point_down():
    climbs = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, targets in _imports().items() for t in targets if _layer(t) > _layer(m)]
    assert climbs == []


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "theory" else parts[0]


def test_no_two_packages_import_each_other():
    graph: dict[str, set[str]] = defaultdict(set)
    for m, targets in _imports().items():
        graph[_package(m)] |= {_package(t) for t in targets} - {_package(m)}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo += graph.get(node, ())
        return False

    circles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if reaches(b, a)})
    assert circles == []


def test_the_checker_sees_a_climb():
    assert _layer("perturb.label_noise") < _layer("report.verdicts") < _layer("commands.run")
    assert "fields" in _imports()["config"]
