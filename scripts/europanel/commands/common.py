"""What several subcommands share: reading the cohort's rows, the ploidy map, opening the
bundles, the `--settings` option."""

from __future__ import annotations

from europanel.core.regions import PloidyMap, builtin_par_bed
from europanel.io.sheets import Rows, read_tsv
from europanel.settings import STAGE_KEYS


def cohort_samples(args) -> Rows:
    """The cohort's rows of the sample sheet (written per cohort by the workflow), without
    pandas (`.frame()` for a DataFrame): the count jobs start without importing it."""
    return read_tsv(args.samples).where("cohort", args.cohort)


def ploidy_map(reference: dict) -> PloidyMap:
    """Ploidy by position: the config's `reference` section (its PAR BED, or the build's)."""
    return PloidyMap.from_bed(reference["par"] or builtin_par_bed(reference["build"]))


def open_bundles(folders: list[str], verified: str | None = None, checksums: bool = True):
    """The bundles, refused when they cannot be summed. Counts files are hashed unless
    `verified` (the `verify-bundles` record of this run) vouches for them, or
    `checksums` is False (parse time: the verify_bundles rule does it once per run)."""
    from europanel.stages.bundle import Bundle, check_compatible, check_verified

    bundles = [Bundle.open(folder) for folder in folders]
    check_compatible(bundles, checksums=checksums and verified is None)
    if verified:
        check_verified(bundles, verified)
    return bundles


def add_cohort_options(parser) -> None:
    parser.add_argument("--cohort", required=True)
    parser.add_argument(
        "--samples", required=True, help="sample sheet (TSV) with the cohort's rows"
    )


def add_settings_option(parser, stage: str) -> None:
    """`--settings`: the config keys the stage reads (europanel.settings.STAGE_KEYS)."""
    keys = ", ".join(STAGE_KEYS[stage])
    parser.add_argument(
        "--settings",
        required=True,
        metavar="JSON|FILE",
        help=f"the stage's settings ({keys}) as a JSON object, or a JSON file holding it",
    )


def add_verified_option(parser) -> None:
    """`--verified`: the run's verify-bundles record. Jobs that read only the manifests take
    it for the counts files' checksums (verified once per run, not hashed again per job)."""
    parser.add_argument(
        "--verified", default=None, help="verify-bundles record: skip hashing counts files"
    )
