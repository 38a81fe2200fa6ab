"""The ``monorobust`` command.

Each subcommand lives in ``monorobust/commands/<name>.py`` and exposes two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def main(args: argparse.Namespace) -> int: ...

plus a module docstring whose first line is the subcommand's help. Adding a subcommand is adding
a file and its name to ``COMMANDS``. Subcommand modules are imported only when used, so that
``monorobust toy --help`` does not pay for importing transformers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from monorobust.errors import ConfigError

COMMANDS = ["run", "pretrain", "evaluate", "sae", "finetune", "toy", "report", "lora", "study"]


def _module(name: str):
    return importlib.import_module(f"monorobust.commands.{name.replace('-', '_')}")


class _Parser(argparse.ArgumentParser):
    """argparse with a bad flag reported like every other bad input: one ``error:`` line, exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="monorobust",
        description="Train poly- and monosemantic representations and stress-test their robustness.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Import only the chosen subcommand's module fully; the others just need their help line.
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name in COMMANDS:
        module = _module(name)
        doc = (module.__doc__ or "").strip().splitlines()
        helptext = doc[0] if doc else name
        p = sub.add_parser(name, help=helptext, description=(module.__doc__ or helptext).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == chosen or chosen is None:
            module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    # A damaged file that is skipped or redone is one line, like an error: no source line under it.
    warnings.formatwarning = lambda message, category, *_: f"warning: {message}\n"
    try:
        _use_worker_processes()
        return int(args._module.main(args) or 0)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except RuntimeError as err:
        from monorobust.train.distributed import lost_peer

        said = lost_peer(err)
        if said is None:
            raise
        # Not this process's fault: one line, not the collective's traceback.
        print(f"error: another process of this run stopped ({said}); what was "
              "finished (checkpoints, rows) is kept: rerun the same command to resume",
              file=sys.stderr)
        return 1


def _use_worker_processes() -> None:
    """ImageNet-C corruptions in one process per core the run may use. The main module here is
    ``monorobust.__main__`` or the guarded ``monorobust`` script, so spawned workers are safe."""
    from monorobust.perturb import set_corrupt_workers

    set_corrupt_workers(None)


if __name__ == "__main__":
    sys.exit(main())
