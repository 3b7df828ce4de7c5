"""One source for settings: the validated config reaches each stage as one JSON object.

The workflow validates `config/config.yaml` against `workflow/schemas/config.schema.yaml`,
which fills in every default (the only place defaults are written). `stage_settings`
picks the part of that config a stage needs (STAGE_KEYS) and the rule passes it as
`--settings '<JSON>'`; the stage's CLI reads it back with `load_settings` and builds its
dataclass from a section (`GenotypeQC(**settings["genotype_qc"])`). Numbers and nulls
stay JSON numbers and nulls all the way: no flag text, no 'off', no parsing.

Each stage gets only its own keys, so snakemake's params rerun trigger reruns only the
jobs whose settings changed. Someone running a stage by hand gives the same object:
`--settings '{"privacy": {"min_group_size": 5}}'`, or the path of a JSON file holding it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from europanel.io.sheets import InputError

# Stage -> the config keys it reads: a top-level key (None: the whole value) or a
# section with the names of the keys it takes from it.
STAGE_KEYS: dict[str, dict[str, tuple[str, ...] | None]] = {
    # One job per cohort x chunk normalises and counts (count-chunk; `count` of a
    # normalised BCF reads the same keys).
    "count": {
        "chunk_size": None,
        "block_size": None,
        "normalise": ("realign_window", "ref_mismatch"),
        "reference": ("build", "par"),
        "genotype_qc": ("min_gq", "min_dp", "min_dp_haploid", "min_het_ab"),
        "site_annotations": ("histograms",),
    },
    "bundle": {
        "reference": ("build", "par"),
        "genotype_qc": ("min_gq", "min_dp", "min_dp_haploid", "min_het_ab"),
        "normalise": ("realign_window", "ref_mismatch"),
        "privacy": ("min_group_size", "bundle_min_group_size", "release_salt_file"),
        "site_annotations": ("histograms",),
    },
    "merge": {
        "chunk_size": None,
        "merge": ("absent_sites",),
        "frequencies": ("faf_exclude",),
        "privacy": ("min_group_size", "min_carriers"),
        "site_annotations": ("inbreeding_coeff_filter", "country_het_p", "country_het_fst"),
    },
    "publish": {"privacy": ("min_group_size", "previous_release")},
    "audit": {"privacy": ("min_group_size", "bundle_min_group_size", "previous_release")},
    "allsites": {"merge": ("absent_sites",)},
    "gdi_export": {"panel_name": None, "gdi": ("panel_label",)},
    # The report's figures hide groups under k; its summary also states min_carriers.
    "report": {"privacy": ("min_group_size",)},
    "report_summary": {"privacy": ("min_group_size", "min_carriers")},
}

# Values the workflow derives from its inputs rather than reads from the config, passed
# with a stage's settings: a cohort's AF_weighted weight (the cohorts sheet's weight
# column; null without one), and cohort -> ISO 3166-1 alpha-2 code (sheet and config).
DERIVED_KEYS: dict[str, tuple[str, ...]] = {
    "bundle": ("weight",),
    "gdi_export": ("countries",),
}


def stage_settings(config: dict, stage: str, **derived: Any) -> dict:
    """The part of the validated config (defaults filled in) that `stage` reads, plus
    the values it derives from the inputs (DERIVED_KEYS), given as `derived`."""
    settings = {}
    for key, names in STAGE_KEYS[stage].items():
        if names is None:
            settings[key] = config[key]
        else:
            settings[key] = {name: config[key][name] for name in names}
    if set(derived) != set(DERIVED_KEYS.get(stage, ())):
        raise ValueError(f"{stage}: derived settings are {DERIVED_KEYS.get(stage, ())}")
    return {**settings, **derived}


def settings_json(settings: dict) -> str:
    """The rule parameter: compact and key-sorted, so equal settings give equal text (the
    params rerun trigger compares the text)."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def load_settings(text: str, stage: str | None = None) -> dict:
    """`--settings`: a JSON object, or the path of a file holding one. With `stage`,
    every key the stage reads must be there (one message naming all that are missing)."""
    if text.lstrip().startswith("{"):
        where = "--settings"
        source = text
    else:
        where = text
        try:
            source = Path(text).read_text()
        except OSError as error:
            raise InputError(
                f"{text}: cannot read the settings file ({error.strerror}); give "
                "--settings a JSON object ('{...}') or the path of a JSON file"
            ) from None
    try:
        settings = json.loads(source)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{where}: not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}); give a JSON object such as "
            '\'{"privacy": {"min_group_size": 5}}\''
        ) from None
    if not isinstance(settings, dict):
        raise InputError(f"{where}: settings must be a JSON object ({{...}}), not {source!r}")
    if stage is not None:
        missing = missing_keys(settings, stage)
        if missing:
            raise InputError(
                f"{where}: the {stage} stage needs {', '.join(missing)}; give every key "
                "(their defaults are in workflow/schemas/config.schema.yaml; the workflow "
                "passes them all)"
            )
    return settings


def missing_keys(settings: dict, stage: str) -> list[str]:
    """The keys of STAGE_KEYS[stage] absent from `settings`, as `section.key`."""
    missing = []
    for key, names in STAGE_KEYS[stage].items():
        if key not in settings:
            missing += [key] if names is None else [f"{key}.{name}" for name in names]
        elif names is not None:
            section = settings[key]
            if not isinstance(section, dict):
                missing.append(f"{key} (an object)")
                continue
            missing += [f"{key}.{name}" for name in names if name not in section]
    return missing + [key for key in DERIVED_KEYS.get(stage, ()) if key not in settings]


def bundle_min_group_size(privacy: dict) -> int:
    """The smallest group a node's bundle carries: privacy.bundle_min_group_size, or
    privacy.min_group_size where that is null (a node may only be stricter)."""
    own = privacy["bundle_min_group_size"]
    return privacy["min_group_size"] if own is None else own
