"""The demo's published outputs, bundles and report are byte for byte the recorded ones
(tests/golden): a refactoring changes no byte; an intended change of behaviour regenerates
the record with `make golden` and says so in CHANGELOG.md."""

from __future__ import annotations

from golden import PUBLISHED, digests, load, output_files

REGENERATE = (
    "If the change is intended, regenerate the record with `make golden` "
    "(python -m tests.golden.update) and say why in CHANGELOG.md; otherwise a change meant "
    "to keep behaviour has changed these outputs."
)


def test_demo_outputs_are_byte_identical_to_the_golden_record(demo_run):
    golden = load()
    present = set(output_files(demo_run / "results"))
    expected = golden["files"]
    missing = sorted(set(expected) - present)
    # --notemp keeps intermediates outside these folders; inside them every file is golden.
    unexpected = sorted(
        path
        for path in present - set(expected)
        if path.removeprefix("results/").startswith(PUBLISHED)
    )
    got = digests(demo_run, sorted(present & set(expected)))
    changed = []
    for path in sorted(got["files"]):
        if got["files"][path] == expected[path]:
            continue
        same_content = got["decompressed"].get(path) == golden["decompressed"].get(path, "")
        how = " (same decompressed content: only the compression differs)" if same_content else ""
        changed.append(f"{path}{how}")
    problems = (
        [f"changed: {p}" for p in changed]
        + [f"missing: {p}" for p in missing]
        + [f"new, not in the record: {p}" for p in unexpected]
    )
    assert not problems, (
        f"{len(problems)} demo outputs differ from tests/golden/demo_outputs.json:\n  "
        + "\n  ".join(problems)
        + f"\n{REGENERATE}"
    )
