"""What several subcommands share: reading the cohort's rows, genotype-QC and ploidy
options, opening the bundles."""

from __future__ import annotations

from europanel.core.regions import PloidyMap, builtin_par_bed
from europanel.io.sheets import read_tsv
from europanel.settings import STAGE_KEYS


def threshold(text: str) -> float | None:
    """A genotype-QC threshold; `off` (or null/none) switches the criterion off."""
    return None if text.lower() in ("off", "null", "none") else float(text)


def genotype_qc(args):
    from europanel.count import GenotypeQC

    def as_int(value):
        return None if value is None else int(value)

    return GenotypeQC(
        as_int(args.min_gq), as_int(args.min_dp), as_int(args.min_dp_haploid), args.min_het_ab
    )


def cohort_samples(args):
    """The cohort's rows of the sample sheet (written per cohort by the workflow)."""
    samples = read_tsv(args.samples)
    return samples[samples["cohort"] == args.cohort].reset_index(drop=True)


def ploidy_map(args) -> PloidyMap:
    return PloidyMap.from_bed(args.par or builtin_par_bed(args.build))


def open_bundles(folders: list[str], verified: str | None = None, checksums: bool = True):
    """The bundles, refused when they cannot be summed. Counts files are hashed unless
    `verified` (the `verify-bundles` record of this run) vouches for them, or
    `checksums` is False (parse time: the verify_bundles rule does it once per run)."""
    from europanel.bundle import Bundle, check_compatible, check_verified

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


def add_ploidy_options(parser) -> None:
    parser.add_argument("--build", default="GRCh38", choices=["GRCh38", "GRCh37"])
    parser.add_argument("--par", default=None, help="BED of PAR regions (overrides --build)")


def add_qc_options(parser) -> None:
    for name, default in (
        ("min-gq", "20"),
        ("min-dp", "10"),
        ("min-dp-haploid", "5"),
        ("min-het-ab", "0.2"),
    ):
        parser.add_argument(
            f"--{name}",
            type=threshold,
            default=threshold(default),
            help=f"genotype QC threshold, or 'off' (default {default})",
        )


def add_normalise_options(parser) -> None:
    parser.add_argument("--realign-window", type=int, default=1000)
    parser.add_argument("--ref-mismatch", choices=["error", "drop"], default="error")


def add_settings_option(parser, stage: str) -> None:
    """`--settings`: the config keys the stage reads (europanel.settings.STAGE_KEYS)."""
    keys = ", ".join(STAGE_KEYS[stage])
    parser.add_argument(
        "--settings",
        required=True,
        metavar="JSON|FILE",
        help=f"the stage's settings ({keys}) as a JSON object, or a JSON file holding it",
    )
