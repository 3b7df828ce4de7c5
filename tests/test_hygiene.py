"""Workflow hygiene enforced by `make test`: snakemake --lint, snakefmt and ruff are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, environment, snakemake_command

BIN = Path(sys.executable).parent


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, env=environment(), capture_output=True, text=True)


def test_snakemake_lint_is_clean():
    result = run(snakemake_command("--lint"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_workflow_is_snakefmt_formatted():
    result = run([str(BIN / "snakefmt"), "--check", "workflow"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_and_tests_pass_ruff():
    result = run([str(BIN / "ruff"), "check", "scripts", "tests"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_hooks_pass_on_every_file():
    """The same checks a contributor's `pre-commit install` runs (.pre-commit-config.yaml)."""
    if not (REPO / ".git").exists():
        pytest.skip("pre-commit needs a git checkout")
    result = run([str(BIN / "pre-commit"), "run", "--all-files", "--show-diff-on-failure"])
    assert result.returncode == 0, result.stdout + result.stderr
