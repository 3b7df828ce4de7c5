"""`europanel-dev`: the development tools' command line (benchmark, simulation, demo data).

Each tool is imported only by its own subcommand: `europanel-dev demo` needs neither
msprime nor psutil.
"""

from __future__ import annotations

import argparse
import sys


def cmd_simulate(args) -> None:
    from europanel_dev import simulate

    simulate.run(args)


def cmd_bench(args) -> None:
    from europanel_dev import bench

    bench.run(args)


def cmd_demo(args) -> None:
    from europanel_dev import demo

    demo.main(args.passed_on)


def cmd_bench_gdi(args) -> None:
    from europanel_dev import bench_gdi

    bench_gdi.main(args.passed_on)


def build_parser() -> argparse.ArgumentParser:
    from europanel_dev import bench, simulate

    parser = argparse.ArgumentParser(prog="europanel-dev", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="simulate country cohorts at real sizes (msprime)")
    simulate.add_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("bench", help="benchmark against bcftools, plink2 and scikit-allel")
    bench.add_arguments(p)
    p.set_defaults(func=cmd_bench)

    # demo and bench-gdi keep their own parsers, which get the rest of the command line
    # (`python -m europanel_dev.demo --help` lists their options).
    p = sub.add_parser(
        "demo", help="regenerate the bundled demo dataset (deterministic)", add_help=False
    )
    p.set_defaults(func=cmd_demo, passes_on=True)
    p = sub.add_parser("bench-gdi", help="all-sites AN size and lookup throughput", add_help=False)
    p.set_defaults(func=cmd_bench_gdi, passes_on=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, args.passed_on = parser.parse_known_args(argv)
    if args.passed_on and not getattr(args, "passes_on", False):
        parser.error(f"unrecognized arguments: {' '.join(args.passed_on)}")
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
