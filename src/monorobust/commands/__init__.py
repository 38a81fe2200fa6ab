"""Subcommands of the ``monorobust`` CLI, one module each (see ``monorobust.cli``)."""
