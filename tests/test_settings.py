"""One source for settings (issue 16): schema defaults -> one JSON object per stage ->
the stage's dataclass, with no default written twice and no string round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, demo_config
from europanel.cli import main
from europanel.core.sitestats import SiteAnnotationPolicy
from europanel.io.sheets import InputError
from europanel.settings import (
    DERIVED_KEYS,
    STAGE_KEYS,
    bundle_min_group_size,
    load_settings,
    missing_keys,
    settings_json,
    stage_settings,
)
from europanel.stages.count import GenotypeQC
from europanel.stages.merge import PanelPolicy

SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
# The smallest valid config: everything else comes from the schema's defaults.
MINIMAL = {"panel_name": "p", "cohorts": "c.tsv", "samples": "s.tsv", "reference": {"fasta": "r"}}


def defaulted(config: dict) -> dict:
    config = json.loads(json.dumps(config))
    validate(config, str(SCHEMA_PATH), set_default=True)
    return config


def derived_values(stage: str) -> dict:
    return {key: None for key in DERIVED_KEYS.get(stage, ())}


def test_min_gq_reaches_genotype_qc_as_a_number_from_the_schema_default():
    config = defaulted(MINIMAL)
    text = settings_json(stage_settings(config, "count"))
    qc = GenotypeQC(**load_settings(text, "count")["genotype_qc"])
    assert qc.min_gq == SCHEMA["properties"]["genotype_qc"]["properties"]["min_gq"]["default"]
    assert type(qc.min_gq) is int and type(qc.min_het_ab) is float


def test_null_switches_a_criterion_off_without_a_sentinel_string():
    config = defaulted({**MINIMAL, "genotype_qc": {"min_gq": None, "min_het_ab": 0.25}})
    text = settings_json(stage_settings(config, "bundle", weight=None))
    qc = GenotypeQC(**load_settings(text, "bundle")["genotype_qc"])
    assert qc.min_gq is None and qc.min_het_ab == 0.25 and qc.min_dp == 10
    assert "GQ" not in qc.needed_fields()


def schema_defaults(section: str) -> dict:
    properties = SCHEMA["properties"][section]["properties"]
    return {name: spec["default"] for name, spec in properties.items() if "default" in spec}


def test_library_dataclass_defaults_agree_with_the_schema():
    """Genotype QC has no default of its own: the schema's reach it through --settings.
    The policy dataclasses keep defaults for library and test use; the workflow never
    relies on them (it passes every key). They must not drift from the schema."""
    with pytest.raises(TypeError):
        GenotypeQC()
    assert dataclasses.asdict(GenotypeQC(**schema_defaults("genotype_qc"))) == {
        "min_gq": 20,
        "min_dp": 10,
        "min_dp_haploid": 5,
        "min_het_ab": 0.2,
    }
    policy = PanelPolicy()
    assert policy.absent_sites == schema_defaults("merge")["absent_sites"]
    assert list(policy.faf_exclude) == schema_defaults("frequencies")["faf_exclude"]
    # min_group_size is left out: the library's 0 (no suppression) serves the kernels'
    # tests; the workflow and `--settings` always give the schema's k.
    assert policy.min_carriers == schema_defaults("privacy")["min_carriers"]
    annotations = SiteAnnotationPolicy()
    for name, value in schema_defaults("site_annotations").items():
        assert getattr(annotations, name) == value, name


def test_every_stage_key_is_in_the_schema():
    for stage, keys in STAGE_KEYS.items():
        for key, names in keys.items():
            assert key in SCHEMA["properties"], (stage, key)
            for name in names or ():
                assert name in SCHEMA["properties"][key]["properties"], (stage, key, name)


def changed_stages(config: dict, section: str, name: str | None, value) -> set[str]:
    """Stages whose settings text changes when one config key changes."""
    changed = json.loads(json.dumps(config))
    if name is None:
        changed[section] = value
    else:
        changed[section][name] = value
    return {
        stage
        for stage in STAGE_KEYS
        if settings_json(stage_settings(config, stage, **derived_values(stage)))
        != settings_json(stage_settings(defaulted(changed), stage, **derived_values(stage)))
    }


@pytest.mark.parametrize(
    "section, name, value, stages",
    [
        ("genotype_qc", "min_gq", 30, {"count", "bundle"}),
        ("merge", "absent_sites", "missing", {"merge", "allsites"}),
        ("site_annotations", "country_het_p", 1e-6, {"merge"}),
        ("site_annotations", "histograms", False, {"count", "bundle"}),
        ("privacy", "min_carriers", 3, {"merge", "report_summary"}),
        (
            "privacy",
            "min_group_size",
            10,
            {"bundle", "merge", "publish", "audit", "report", "report_summary"},
        ),
        ("gdi", "panel_label", "XE", {"gdi_export"}),
        ("chunk_size", None, 20_000, {"count", "merge"}),
    ],
)
def test_a_setting_changes_only_the_stages_that_read_it(section, name, value, stages):
    """Snakemake's params trigger reruns a job when its parameter text changes: one key
    reruns the stages that read it, not every job."""
    assert changed_stages(defaulted(MINIMAL), section, name, value) == stages


def test_settings_text_is_stable_and_keeps_json_types():
    config = defaulted(MINIMAL)
    settings = stage_settings(config, "merge")
    text = settings_json(settings)
    assert text == settings_json(json.loads(text))  # key order does not matter
    assert json.loads(text) == settings
    assert json.loads(text)["site_annotations"]["country_het_p"] == 1e-8


def test_derived_values_are_required_and_no_others_accepted():
    config = defaulted(MINIMAL)
    with pytest.raises(ValueError):
        stage_settings(config, "bundle")
    with pytest.raises(ValueError):
        stage_settings(config, "merge", weight=1.0)
    assert stage_settings(config, "bundle", weight=0.5)["weight"] == 0.5


def test_load_settings_from_a_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"merge": {"absent_sites": "missing"}}))
    assert load_settings(str(path), "allsites") == {"merge": {"absent_sites": "missing"}}


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"privacy": {"min_group_size": 5', "--settings: not valid JSON"),
        ("[1, 2]", "cannot read the settings file"),
        ("{}", "the publish stage needs privacy.min_group_size, privacy.previous_release"),
        ('{"privacy": 5}', "privacy (an object)"),
    ],
)
def test_bad_settings_get_one_message_naming_the_fix(text, expected):
    with pytest.raises(InputError, match="give") as error:
        load_settings(text, "publish")
    assert expected in str(error.value)


def test_a_missing_settings_file_is_named(tmp_path):
    with pytest.raises(InputError, match="absent.json: cannot read the settings file"):
        load_settings(str(tmp_path / "absent.json"))


def test_missing_keys_names_derived_values_too():
    assert missing_keys({}, "gdi_export") == ["panel_name", "gdi.panel_label", "countries"]


def test_bundle_threshold_defaults_to_the_panel_threshold():
    assert bundle_min_group_size({"min_group_size": 5, "bundle_min_group_size": None}) == 5
    assert bundle_min_group_size({"min_group_size": 5, "bundle_min_group_size": 8}) == 8


def test_demo_settings_are_complete_for_every_stage():
    config = demo_config()
    for stage in STAGE_KEYS:
        settings = stage_settings(config, stage, **derived_values(stage))
        assert missing_keys(settings, stage) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "--bundles", "b"],
        ["merge", "--bundles", "b", "--chunk", "chr1-00000", "--vcf-part", "v", "--parquet-part"]
        + ["p", "--summary", "s"],
        ["allsites", "--bundles", "b", "--panel", "p", "--contigs", "c", "--output", "o"]
        + ["--parquet", "q"],
        ["gdi-export", "--parts", "p", "--bundles", "b", "--contigs", "c", "--summary", "s"],
        ["gdi-export-part", "--panel", "p", "--region", "chr1:1-10", "--output", "o"],
    ],
)
def test_cli_refuses_incomplete_settings_with_one_message(argv, capsys):
    assert main([*argv, "--settings", '{"privacy": {}}']) == 2
    message = capsys.readouterr().err
    assert "input error" in message and "needs" in message and "Traceback" not in message
