"""install.sh refuses a Python it cannot install into before it installs anything.

Each case runs the real script with stand-ins first on PATH: ``apt-get``, ``dpkg`` and ``sudo``
only log their call, and the stand-in ``python3`` (the interpreter running the tests, made to
look old, pip-less or system-managed) logs ``-m pip`` calls and fails them, so nothing is
installed whatever the script does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRELUDES = {
    "ok": "pass",
    "old": "sys.version_info = (3, 8, 10, 'final', 0); sys.version = '3.8.10 (stand-in)'",
    "nopip": ("import importlib.util as u; f = u.find_spec; "
              "u.find_spec = lambda n, *a: None if n == 'pip' else f(n, *a)"),
    "managed": ("import sysconfig; sys.prefix = sys.base_prefix; "
                "sysconfig.get_path = lambda *a, **k: os.environ['FAKE_STDLIB']"),
}


def _install(tmp_path: Path, python: str, *args: str, **env: str) -> tuple[int, str, list[str]]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("apt-get", "dpkg", "sudo"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n[ "{tool}" != dpkg ]\n')
        stub.chmod(0o755)
    stdlib = tmp_path / "stdlib"
    (stdlib).mkdir(exist_ok=True)
    (stdlib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\n")
    code = (f"import os, sys; {PRELUDES[python]}; sys.argv = ['-'] + sys.argv[1:]; "
            "exec(compile(sys.stdin.read(), '<stdin>', 'exec'))")
    stub = bin_dir / "python3"
    stub.write_text(f'#!/bin/sh\nif [ "$1" = -m ]; then echo "python3 $*" >> "{log}"; exit 1; fi\n'
                    f'shift\nexec "{sys.executable}" -c "{code}" "$@"\n')
    stub.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k not in ("PIP", "MONOROBUST_PYTHON",
                                                                 "PIP_BREAK_SYSTEM_PACKAGES")}
    environ.update(PATH=f"{bin_dir}:{environ['PATH']}", FAKE_STDLIB=str(stdlib), **env)
    # From another folder: the script finds its own.
    proc = subprocess.run(["bash", str(ROOT / "install.sh"), *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stderr.strip(), calls


@pytest.mark.parametrize("python, message", [
    ("old", "monorobust needs Python 3.10 or newer; .* is 3.8.10: install a newer one and set "
            "MONOROBUST_PYTHON"),
    ("nopip", "has no pip; install it \\(Debian: apt-get install python3-pip\\), or use a virtual "
              "environment: python3 -m venv .venv"),
    ("managed", "is the system's Python, where pip may not install \\(PEP 668, .*EXTERNALLY-MANAGED"
                "\\); use a virtual environment"),
])
def test_a_python_it_cannot_install_into_is_refused_before_anything_runs(python, message, tmp_path):
    """These failed after apt-get, halfway, with pip's message (or 'no matching distribution
    for torch==2.13.0' on an old Python) instead of the fix."""
    code, err, calls = _install(tmp_path, python)
    assert code == 2 and calls == [], (err, calls)
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_a_missing_python_and_a_bad_target_are_refused_before_apt(tmp_path):
    code, err, calls = _install(tmp_path, "ok", MONOROBUST_PYTHON=str(tmp_path / "no-python"))
    assert code == 2 and calls == [] and err.startswith("install.sh: ") and "not found" in err
    code, err, calls = _install(tmp_path, "ok", "tset")
    assert code == 2 and calls == [] and err == "usage: ./install.sh [core|test|lora|all]"


def test_a_usable_python_goes_on_to_apt_and_pip(tmp_path):
    code, err, calls = _install(tmp_path, "ok")
    assert code != 0, err                                  # the stand-in pip fails, on purpose
    assert calls[0] == "dpkg -s dataset-fashion-mnist", (err, calls)
    assert calls[-1] == "python3 -m pip install -q torch==2.13.0"
    (tmp_path / "calls.log").unlink()
    code, _, calls = _install(tmp_path, "managed", PIP_BREAK_SYSTEM_PACKAGES="1")
    assert calls[-1] == "python3 -m pip install -q torch==2.13.0"
