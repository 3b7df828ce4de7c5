"""Rewrite tests/golden/demo_outputs.json from a fresh demo run (`make golden`).

Only for an intended change of behaviour, said so in CHANGELOG.md (CONTRIBUTING.md).

    python -m tests.golden.update               # run the demo in a temporary directory
    python -m tests.golden.update --workdir DIR # hash DIR/results of a finished default run
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.golden import GOLDEN, digests, output_files, write

REPO = Path(__file__).resolve().parents[2]


def run_demo(workdir: Path, cores: int) -> None:
    """The demo as a user runs it (`snakemake --cores N`, temporary files deleted), in a
    directory that sees the repository's workflow and demo data through links."""
    for name in ("workflow", "resources"):
        (workdir / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "config", workdir / "config")
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-5000:]
        sys.exit(f"the demo run failed in {workdir}; nothing rewritten:\n{log}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="a finished default demo run to hash")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="europanel-golden-") as scratch:
        workdir = args.workdir
        if workdir is None:
            workdir = Path(scratch)
            run_demo(workdir, args.cores)
        files = output_files(workdir / "results")
        if not files:
            sys.exit(f"no demo outputs under {workdir / 'results'}: run the demo first")
        write(digests(workdir, files))
    print(f"{GOLDEN.relative_to(REPO)}: {len(files)} files; say why in CHANGELOG.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
