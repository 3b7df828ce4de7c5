"""Every conda env provides what its rules import, with the pins of requirements.txt.

Under `--sdm conda` each rule runs `python -m europanel.cli <subcommand>` in its own env
(workflow/envs/*.yaml), with the package from the workflow's scripts/ folder. Which
third-party modules a subcommand needs is derived here, not listed by hand: starting from
the CLI's module body, `main` and the subcommand's handler, the package's source is
followed statically (ast) through every definition the reached code refers to, in any
europanel module, function-local imports included; what the reached code imports from
outside the standard library and the package is what the rule's env must provide. The
handlers the parser registers (`set_defaults(func=...)`) are entry points of their own,
not references: `europanel count` never runs the audit's imports. The development tools
(scripts/europanel_dev: benchmark, simulation, demo generator) are walked too, and no
rule, nor the parsing of the workflow, may reach them.

A module whose conda or pip name differs from its import name goes into PACKAGES below.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import REPO

PACKAGE_DIR = REPO / "scripts" / "europanel"
DEV_PACKAGE_DIR = REPO / "scripts" / "europanel_dev"
# The repository's own packages: imports of these are followed, not looked up as needs.
PACKAGES_HERE = ("europanel", "europanel_dev")
RULES_DIR = REPO / "workflow" / "rules"
ENVS_DIR = REPO / "workflow" / "envs"
SNAKEFILES = [REPO / "workflow" / "Snakefile", *sorted(RULES_DIR.glob("*.smk"))]

# Import name -> (pip distribution in requirements*.txt, conda-forge/bioconda package).
# Anything not listed is the same name everywhere.
PACKAGES = {
    "yaml": ("PyYAML", "pyyaml"),
    "isal": ("isal", "python-isal"),
    "zlib_ng": ("zlib-ng", "python-zlib-ng"),
    "matplotlib": ("matplotlib", "matplotlib-base"),
    "allel": ("scikit-allel", "scikit-allel"),
    "sklearn": ("scikit-learn", "scikit-learn"),
    "ga4gh": ("ga4gh.vrs", "ga4gh.vrs"),  # pip-only: under `pip:` in the envs
}
# Conda-only entries of an env that requirements.txt does not pin.
NOT_PIP = {"python", "pip"}


def normalised(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


PIP_TO_CONDA = {normalised(pip): conda for pip, conda in PACKAGES.values()}
CONDA_TO_PIP = {conda: normalised(pip) for pip, conda in PACKAGES.values()}


def pip_name(module: str) -> str:
    return normalised(PACKAGES.get(module, (module, module))[0])


def conda_name(pip: str) -> str:
    return PIP_TO_CONDA.get(normalised(pip), normalised(pip))


# ---------------------------------------------------------------------------------------
# What code needs: a static walk over the package's definitions.


@dataclass
class Need:
    """A third-party distribution and the first place that needs it (for the message)."""

    pip: str
    where: str


@dataclass
class Module:
    name: str
    tree: ast.Module
    is_package: bool = False  # an __init__.py: its relative imports start from itself
    definitions: dict[str, ast.AST] = field(default_factory=dict)
    # Names bound by any import in the module (module level or function-local), to what:
    # ("module", "europanel.x") or ("member", "europanel.x", "attr").
    bindings: dict[str, set[tuple]] = field(default_factory=dict)


def load_package(directory: Path, package: str) -> dict[str, Module]:
    """Every module of the package, subpackages included (`europanel.io.vcf`)."""
    modules = {}
    for path in sorted(directory.rglob("*.py")):
        parts = [package, *path.relative_to(directory).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        module = Module(name, ast.parse(path.read_text(), str(path)), is_package)
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                module.definitions[node.name] = node
        modules[name] = module
    for module in modules.values():
        for node in ast.walk(module.tree):
            for name, target in import_bindings(node, module, (package,), modules):
                module.bindings.setdefault(name, set()).add(target)
    return modules


def in_packages(name: str, packages) -> bool:
    return name.split(".")[0] in packages


def imported_from(node: ast.ImportFrom, module: Module) -> str:
    """The absolute module of `from X import ...` in `module` (relative: from its package)."""
    if node.level == 0:
        return node.module
    parts = module.name.split(".")
    base = parts[: len(parts) - node.level + (1 if module.is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def import_bindings(node: ast.AST, module: Module, packages, modules) -> list[tuple[str, tuple]]:
    """Names an import statement binds to parts of the packages."""
    bound = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if in_packages(alias.name, packages):
                bound.append((alias.asname or alias.name.split(".")[0], ("module", alias.name)))
    elif isinstance(node, ast.ImportFrom):
        source = imported_from(node, module)
        if in_packages(source, packages):
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                target = (
                    ("module", submodule)
                    if submodule in modules
                    else ("member", source, alias.name)
                )
                bound.append((alias.asname or alias.name, target))
    return bound


def definition_time_parts(node: ast.AST) -> list[ast.AST]:
    """What runs when a module defines a function or class: decorators, default values,
    base classes, class-level statements (methods: their decorators and defaults)."""
    parts = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        parts += node.bases + node.keywords
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                parts += definition_time_parts(statement)
            else:
                parts.append(statement)
    else:
        parts += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    return parts


def dispatch_targets(tree: ast.AST) -> set[int]:
    """Nodes of `parser.set_defaults(func=handler)`: the subcommand chosen at run time
    calls its handler, the others never run."""
    skipped = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "set_defaults"
        ):
            for keyword in node.keywords:
                if keyword.arg == "func":
                    skipped.update(id(n) for n in ast.walk(keyword.value))
    return skipped


def walk(nodes: list[ast.AST], skipped: set[int]):
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if id(node) in skipped:
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def is_main_guard(statement: ast.AST) -> bool:
    return (
        isinstance(statement, ast.If)
        and isinstance(statement.test, ast.Compare)
        and isinstance(statement.test.left, ast.Name)
        and statement.test.left.id == "__name__"
    )


def versions_asked(call: ast.Call, unit: list[ast.AST]) -> list[str] | None:
    """Distributions named by `metadata.version(x)`: a literal, or a loop variable over a
    literal tuple/list. None: not statically known."""
    if not call.args:
        return None
    argument = call.args[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value]
    if isinstance(argument, ast.Name):
        for node in walk(unit, set()):
            if (
                isinstance(node, ast.For)
                and isinstance(node.target, ast.Name)
                and node.target.id == argument.id
                and isinstance(node.iter, ast.Tuple | ast.List)
                and all(isinstance(e, ast.Constant) for e in node.iter.elts)
            ):
                return [e.value for e in node.iter.elts]
    return None


@dataclass
class Walk:
    needs: dict[str, Need]  # third-party distributions the reached code imports
    unknown: list[str]  # places whose needs cannot be read statically
    reached: set[tuple[str, str | None]]  # (module, definition or None for its body)


def third_party_needs(
    modules: dict[str, Module], entries: list[tuple[str, str | None]], packages
) -> tuple[dict[str, Need], list[str]]:
    """Distributions the code reached from `entries` needs ((module, definition or None
    for the module body)), and the places whose needs cannot be read statically."""
    walked = walk_code(modules, entries, packages)
    return walked.needs, walked.unknown


def walk_code(modules: dict[str, Module], entries: list[tuple[str, str | None]], packages) -> Walk:
    """The walk behind third_party_needs; `packages`: the top-level name(s) of the code
    walked (imports of these are followed, others are needs)."""
    packages = (packages,) if isinstance(packages, str) else tuple(packages)
    needs: dict[str, Need] = {}
    unknown: list[str] = []
    reached: set[tuple[str, str | None]] = set()
    todo = list(entries)

    def reach(module_name: str, definition: str | None = None) -> None:
        if module_name not in modules:
            return
        # Importing a submodule runs the __init__ of every package above it.
        parts = module_name.split(".")
        todo.extend((".".join(parts[:i]), None) for i in range(1, len(parts)))
        todo.append((module_name, None))
        if definition is not None and definition in modules[module_name].definitions:
            todo.append((module_name, definition))

    def reach_name(module: Module, name: str, attribute: str | None) -> None:
        if name in module.definitions:
            reach(module.name, name)
        for target in module.bindings.get(name, ()):
            if target[0] == "member":
                reach(target[1], target[2])
            elif attribute is not None:
                reach(target[1], attribute)
            else:  # the module object itself is passed around: any of it may run
                for definition in modules.get(target[1], Module("", ast.Module())).definitions:
                    reach(target[1], definition)

    while todo:
        unit = todo.pop()
        if unit in reached or unit[0] not in modules:
            continue
        reached.add(unit)
        module = modules[unit[0]]
        where = f"{unit[0]}:{unit[1]}" if unit[1] else unit[0]
        if unit[1] is None:
            nodes = []
            for statement in module.tree.body:
                if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    nodes += definition_time_parts(statement)
                elif not is_main_guard(statement):  # imported, not run as a script
                    nodes.append(statement)
        else:
            nodes = [module.definitions[unit[1]]]
        skipped = dispatch_targets(ast.Module(body=nodes, type_ignores=[]))
        # `module.attr` reaches attr only, not the whole of module.
        qualifiers = {
            id(node.value)
            for node in walk(nodes, skipped)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        }
        for node in walk(nodes, skipped):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [imported_from(node, module)]
                )
                for imported in names:
                    top = imported.split(".")[0]
                    if top in packages:
                        reach(imported)
                        if isinstance(node, ast.ImportFrom):
                            for alias in node.names:
                                reach(f"{imported}.{alias.name}")
                                reach(imported, alias.name)
                    elif top not in sys.stdlib_module_names and top != "__future__":
                        needs.setdefault(pip_name(top), Need(pip_name(top), where))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                reach_name(module, node.value.id, node.attr)
            elif (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and id(node) not in qualifiers
            ):
                reach_name(module, node.id, None)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "version"
                and isinstance(node.func.value, ast.Name | ast.Attribute)
                and (getattr(node.func.value, "id", None) or node.func.value.attr) == "metadata"
            ):
                asked = versions_asked(node, nodes)
                if asked is None:
                    unknown.append(f"{where}: metadata.version() of a name not known statically")
                for distribution in asked or []:
                    if normalised(distribution) not in map(normalised, packages):
                        needs.setdefault(
                            normalised(distribution),
                            Need(normalised(distribution), f"{where} (metadata.version)"),
                        )
    return Walk(needs, unknown, reached)


MODULES = load_package(PACKAGE_DIR, "europanel") | load_package(DEV_PACKAGE_DIR, "europanel_dev")


def subcommand_handlers() -> dict[str, tuple[str, str]]:
    """Subcommand -> (module, function) its parser dispatches to."""
    from europanel.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    handlers = {}
    for name, subparser in subparsers.choices.items():
        handler = subparser.get_default("func")
        assert "." not in handler.__qualname__, f"{name}: handler {handler} is not top-level"
        handlers[name] = (handler.__module__, handler.__qualname__)
    return handlers


def subcommand_walk(subcommand: str) -> Walk:
    module, function = subcommand_handlers()[subcommand]
    # `python -m europanel.cli`: the module body, then its `__main__` guard calls main.
    entries = [("europanel.cli", None), ("europanel.cli", "main"), (module, function)]
    return walk_code(MODULES, entries, PACKAGES_HERE)


def subcommand_needs(subcommand: str) -> tuple[dict[str, Need], list[str]]:
    walked = subcommand_walk(subcommand)
    return walked.needs, walked.unknown


def snakefile_imports() -> list[ast.AST]:
    """The import statements at column 0 of the Snakefile and rules/*.smk (they run when
    snakemake parses the workflow, in the environment that runs snakemake)."""
    pattern = re.compile(r"^(?:from\s+\S+\s+)?import\s+(?:\([^)]*\)|.*)$", re.M)
    statements = []
    for path in SNAKEFILES:
        for match in pattern.finditer(path.read_text()):
            statements += ast.parse(match.group(0)).body
    return statements


def workflow_parse_walk() -> Walk:
    """What parsing the workflow runs: its own imports and the package code they reach."""
    tree = ast.Module(body=snakefile_imports(), type_ignores=[])
    modules = dict(MODULES)
    modules["<snakefile>"] = snakefile = Module("<snakefile>", tree)
    for node in tree.body:
        for name, target in import_bindings(node, snakefile, PACKAGES_HERE, MODULES):
            snakefile.bindings.setdefault(name, set()).add(target)
    return walk_code(modules, [("<snakefile>", None)], PACKAGES_HERE)


def workflow_parse_needs() -> tuple[dict[str, Need], list[str]]:
    walked = workflow_parse_walk()
    return walked.needs, walked.unknown


# ---------------------------------------------------------------------------------------
# What the files provide.


@dataclass
class Rule:
    name: str
    file: str
    conda: str | None
    subcommand: str | None
    runs_package: bool
    shell: str


def workflow_rules() -> list[Rule]:
    rules = []
    for path in sorted(RULES_DIR.glob("*.smk")):
        text = path.read_text()
        starts = list(re.finditer(r"^\s*(?:rule|checkpoint)\s+(\w+):\s*$", text, re.M))
        for start, end in zip(starts, starts[1:] + [None]):
            block = text[start.start() : end.start() if end else len(text)]
            conda = re.search(r"^\s*conda:\s*\n\s*\"([^\"]+)\"", block, re.M)
            shell = re.search(r"^\s*shell:\s*\n((?:\s*\".*\"\s*\n?)+)", block, re.M)
            shell_text = "".join(re.findall(r"\"(.*)\"", shell.group(1))) if shell else ""
            subcommand = re.search(r"\{params\.europanel\}\s+([a-z][\w-]*)", shell_text)
            rules.append(
                Rule(
                    start.group(1),
                    path.name,
                    conda and conda.group(1),
                    subcommand and subcommand.group(1),
                    "europanel=EUROPANEL" in block.replace(" ", ""),
                    shell_text,
                )
            )
    return rules


def read_requirements(path: Path) -> dict[str, str]:
    """pip name -> pinned version, following `-r` includes."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            pins.update(read_requirements(path.parent / line[2:].strip()))
        elif line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[normalised(name)] = version.strip()
    return pins


def read_conda_env(path: Path) -> dict[str, str | None]:
    """conda package -> pinned version (None: unpinned) of an environment file."""
    packages = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, dict):  # a `pip:` section: pip names, `==` pins
            for requirement in entry.get("pip", []):
                name, version = re.fullmatch(r"([\w.-]+)\s*(?:==\s*(\S+))?", requirement).groups()
                packages[conda_name(name)] = version
            continue
        name, version = re.fullmatch(r"([\w.-]+)\s*(?:==?\s*(\S+))?", entry.strip()).groups()
        packages[name.lower()] = version
    return packages


RUNTIME = read_requirements(REPO / "requirements.txt")
ALL_DECLARED = {
    **read_requirements(REPO / "requirements-bench.txt"),
    **read_requirements(REPO / "requirements-test.txt"),
}


def lacking(env: dict[str, str | None], needs: dict[str, Need], env_name: str, what: str):
    return [
        f"{env_name} ({what}) lacks {conda_name(n.pip)}: {n.where} needs it"
        f" (add `- {conda_name(n.pip)}={RUNTIME.get(n.pip, '<version in requirements.txt>')}`;"
        " if its conda or pip name differs from the import name, add it to PACKAGES in"
        " tests/test_envs.py)"
        for n in sorted(needs.values(), key=lambda n: n.pip)
        if conda_name(n.pip) not in env
    ]


def pin_problems(env: dict[str, str | None], env_name: str) -> list[str]:
    problems = []
    for conda, version in sorted(env.items()):
        if conda in NOT_PIP:
            continue
        pip = CONDA_TO_PIP.get(conda, conda)
        if pip not in RUNTIME:
            problems.append(f"{env_name}: {conda} is not in requirements.txt")
        elif version != RUNTIME[pip]:
            problems.append(
                f"{env_name}: {conda}={version} but requirements.txt pins {pip}=={RUNTIME[pip]}"
            )
    return problems


# ---------------------------------------------------------------------------------------
# The tests.


def test_every_rule_running_the_package_uses_EUROPANEL_and_a_conda_env():
    """A rule that calls `python` or the `europanel` command itself breaks in a bare
    environment and under --sdm conda; one without `conda:` runs outside any env."""
    problems = []
    for rule in workflow_rules():
        bare = re.search(r"(?<![.\w{])(python3?\s+-m\s+europanel|europanel\s+[a-z])", rule.shell)
        if bare:
            problems.append(
                f"rules/{rule.file}: rule {rule.name} runs {bare.group(0)!r}: write"
                " `{params.europanel} <subcommand>` with `params: europanel=EUROPANEL`"
            )
        if rule.subcommand and not rule.runs_package:
            problems.append(f"rules/{rule.file}: rule {rule.name} lacks europanel=EUROPANEL")
        if rule.subcommand and not rule.conda:
            problems.append(f"rules/{rule.file}: rule {rule.name} has no conda: env")
    assert not problems, "\n".join(problems)
    assert sum(rule.subcommand is not None for rule in workflow_rules()) >= 10


def test_rule_envs_provide_what_their_subcommand_imports():
    handlers = subcommand_handlers()
    problems = []
    for rule in workflow_rules():
        if rule.subcommand is None:
            continue
        if rule.subcommand not in handlers:
            problems.append(f"rule {rule.name}: europanel has no subcommand {rule.subcommand}")
            continue
        env_path = (RULES_DIR / rule.conda).resolve()
        needs, unknown = subcommand_needs(rule.subcommand)
        problems += unknown
        problems += lacking(
            read_conda_env(env_path),
            needs,
            f"workflow/envs/{env_path.name}",
            f"rule {rule.name}, `europanel {rule.subcommand}`",
        )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("env_path", sorted(ENVS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_agree_with_requirements(env_path):
    env = read_conda_env(env_path)
    problems = pin_problems(env, f"workflow/envs/{env_path.name}")
    python = read_conda_env(REPO / "environment.yml")["python"]
    if env.get("python") != python:
        problems.append(f"{env_path.name}: python={env.get('python')}, environment.yml: {python}")
    assert not problems, "\n".join(problems)


def test_environment_yml_runs_the_workflow():
    """environment.yml is requirements.txt in conda names and pins, and holds what
    parsing the workflow and every rule need."""
    env = read_conda_env(REPO / "environment.yml")
    problems = pin_problems(env, "environment.yml")
    problems += [
        f"environment.yml lacks {conda_name(pip)}={version} (requirements.txt has {pip})"
        for pip, version in sorted(RUNTIME.items())
        if conda_name(pip) not in env
    ]
    needs, unknown = workflow_parse_needs()
    for rule in workflow_rules():
        if rule.subcommand in subcommand_handlers():
            needs.update({k: v for k, v in subcommand_needs(rule.subcommand)[0].items()})
    problems += unknown + lacking(env, needs, "environment.yml", "the workflow")
    assert not problems, "\n".join(problems)
    assert {"snakemake", "pyyaml", "pysam"} <= {conda_name(pip) for pip in needs}


def test_every_import_of_the_package_is_declared_in_a_requirements_file():
    """Benchmark-only and test-only imports may live in requirements-bench/-test.txt."""
    entries = [(name, None) for name in MODULES] + [
        (name, definition) for name, module in MODULES.items() for definition in module.definitions
    ]
    needs, unknown = third_party_needs(MODULES, entries, PACKAGES_HERE)
    undeclared = [
        f"{need.where} imports {need.pip}, which no requirements*.txt pins"
        for need in needs.values()
        if need.pip not in ALL_DECLARED
    ]
    assert not undeclared + unknown, "\n".join(undeclared + unknown)
    assert {"psutil", "msprime", "scikit-allel"} <= set(needs)  # the benchmark's


def test_needs_follow_calls_not_files():
    """The walk itself, on the real package: count reads BGZF with isal and needs no
    scipy; merge reaches scipy through europanel.core.frequencies, publish and the report do
    not; no rule pays for the benchmark's imports."""
    count = subcommand_needs("count-chunk")[0]
    assert {"isal", "numpy", "pandas", "pyarrow", "pysam"} <= set(count)
    assert "scipy" not in count and "matplotlib" not in count
    assert "scipy" in subcommand_needs("merge")[0]
    # they read the panel's groups from europanel.core.panel_groups, not the merge module
    for subcommand in ("publish", "qc-figures"):
        assert "scipy" not in subcommand_needs(subcommand)[0], subcommand
    assert "matplotlib" in subcommand_needs("qc-figures")[0]
    for subcommand in ("cohort-sheet", "count-chunk", "count", "bundle", "merge", "publish"):
        needs = set(subcommand_needs(subcommand)[0])
        assert not needs & {"msprime", "psutil", "scikit-allel", "matplotlib"}, subcommand
    assert subcommand_needs("count-chunk")[0]["isal"].where == "europanel.io.bcf"


def test_walk_on_a_hand_made_package(tmp_path):
    """Function-local imports count only when their function is reached: by a call, an
    attribute of an imported module, a class whose methods hold them, or a default."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text(
        "from pkg import stage\n"
        "def handler():\n    stage.run()\n"
        "def other():\n    import never_needed\n"
        "def parser(p):\n    p.set_defaults(func=other)\n"
    )
    (package / "stage.py").write_text(
        "import numpy\n"
        "from importlib import metadata\n"
        "from .util import Reader, helper\n"
        "def run():\n    Reader().read()\n    helper()\n"
        "def unused():\n    import scipy\n"
        "def versions():\n"
        "    for name in ('cyvcf2', 'pysam'):\n        metadata.version(name)\n"
    )
    (package / "util.py").write_text(
        "class Reader:\n    def read(self):\n        import isal.isal_zlib\n"
        "def helper(x=None):\n    import yaml\n"
        "def versions_caller():\n    from pkg.stage import versions\n    versions()\n"
    )
    modules = load_package(package, "pkg")
    entries = [("pkg.cli", None), ("pkg.cli", "handler"), ("pkg.cli", "parser")]
    needs, unknown = third_party_needs(modules, entries, "pkg")
    assert set(needs) == {"numpy", "isal", "pyyaml"} and not unknown
    assert needs["isal"].where == "pkg.util:Reader"
    needs, _ = third_party_needs(modules, [("pkg.util", "versions_caller")], "pkg")
    assert {"cyvcf2", "pysam"} <= set(needs)
    assert "scipy" not in needs and "never-needed" not in needs


def test_no_rule_reaches_the_development_tools():
    """The benchmark, the simulator and the demo generator live in europanel_dev: no
    subcommand a rule runs, nor the parsing of the workflow, reaches any of its code."""
    walks = {
        f"rule {rule.name} (`europanel {rule.subcommand}`)": subcommand_walk(rule.subcommand)
        for rule in workflow_rules()
        if rule.subcommand
    }
    walks["parsing the workflow (Snakefile, rules/*.smk)"] = workflow_parse_walk()
    problems = [
        f"{what} reaches {module}" + (f".{definition}" if definition else "")
        for what, walked in walks.items()
        for module, definition in sorted(walked.reached, key=str)
        if in_packages(module, ("europanel_dev",))
    ]
    assert not problems, "\n".join(problems)
    # The walk does see the dev package where it is used: `europanel-dev bench` reaches
    # the benchmark and the simulator, and their imports.
    bench = walk_code(
        MODULES,
        [
            ("europanel_dev.cli", None),
            ("europanel_dev.cli", "main"),
            ("europanel_dev.cli", "cmd_bench"),
        ],
        PACKAGES_HERE,
    )
    assert {("europanel_dev.bench", "run"), ("europanel_dev.simulate", "simulate")} <= bench.reached
    assert {"msprime", "psutil"} <= set(bench.needs)


def test_walk_follows_subpackages_and_relative_imports(tmp_path):
    """`from ..core import maths` in pkg/stages/run.py reaches pkg/core/maths.py, and
    importing pkg.stages.run runs pkg/__init__.py and pkg/stages/__init__.py."""
    package = tmp_path / "pkg"
    for folder in (package, package / "core", package / "stages"):
        folder.mkdir()
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    (package / "stages" / "__init__.py").write_text("import yaml\n")
    (package / "core" / "maths.py").write_text("def f():\n    import scipy\n")
    (package / "stages" / "run.py").write_text(
        "from ..core import maths\nfrom . import helper\ndef go():\n    maths.f()\n"
    )
    (package / "stages" / "helper.py").write_text("import numpy\n")
    modules = load_package(package, "pkg")
    assert set(modules) == {
        "pkg",
        "pkg.core",
        "pkg.stages",
        "pkg.core.maths",
        "pkg.stages.run",
        "pkg.stages.helper",
    }
    entries = [("pkg.stages.run", None), ("pkg.stages.run", "go")]
    needs, unknown = third_party_needs(modules, entries, "pkg")
    assert set(needs) == {"pyyaml", "scipy", "numpy"} and not unknown
