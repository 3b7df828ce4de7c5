"""Command-line entry points used by the Snakemake rules: one subcommand per stage.

Each subcommand parses its arguments, calls the package's pure functions and
writes its outputs. Input errors end with one readable message and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from europanel import __version__
from europanel.commands import cohort, gdi, panel, report
from europanel.io.sheets import InputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="europanel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"europanel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # Each module of europanel.commands registers its subcommands: `cohort` (at the node:
    # cohort-sheet, normalise, count, bundle), `panel` (from the bundles: verify-bundles,
    # merge, publish, audit), `gdi` (allsites, gdi-export, lookup), `report`
    # (qc-figures). Called by name, not in a loop: tests/test_envs.py follows these calls.
    cohort.register(sub)
    panel.register(sub)
    gdi.register(sub)
    report.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as error:
        print(f"europanel {args.command}: input error:\n{error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
