"""synth/ is laid out by the stages of the flow, and imports only run backwards along it.

    models, errors, tokens, pricing   (below every stage: used before, during and after a run)
    library/   workspace, settings, secrets, personas and topic sources, YAML
    generate/  prompts, planner, endpoints, limits, the embedded model, engine, events, transcript
    curate/    filters, review
    dataset/   store, datasets, export, validate, report
    cli/       the parser and one module per command group

A module may import from its own stage and from earlier ones, never from a later one; lazy
imports inside functions count too.  The app (tui/) sits on the engine's stages, never on the
command line's: no tui/ module imports synth.cli.  Every module says what it is for in its first lines and
stays under ~450 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import synth

ROOT = Path(synth.__file__).resolve().parent
TUI = ROOT.parent / "tui"
STAGES = ["", "library", "generate", "curate", "dataset", "cli"]  # "": the top-level modules
MAX_LINES = 450


def _stage(module: str) -> int | None:
    """The stage index of a ``synth...`` module name (None for things outside synth)."""
    parts = module.split(".")
    if parts[0] != "synth":
        return None
    if len(parts) == 1:
        return 0
    return STAGES.index(parts[1]) if parts[1] in STAGES else 0


def _modules() -> dict[str, Path]:
    return {".".join(("synth",) + p.relative_to(ROOT).with_suffix("").parts): p
            for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "synth":  # from synth import library  -> synth.library
                out += [(node.lineno, f"synth.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, mod))
    return out


def test_every_module_sits_in_a_stage():
    stray = [n for n in _modules() if n.count(".") >= 2 and n.split(".")[1] not in STAGES]
    assert not stray, stray


def test_no_module_imports_from_a_later_stage():
    bad = []
    for name, path in _modules().items():
        mine = _stage(name)
        for line, mod in _imports(name, path):
            theirs = _stage(mod)
            if theirs is not None and mine is not None and theirs > mine:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {name} "
                           f"({STAGES[mine] or 'top'}) imports {mod} ({STAGES[theirs]})")
    assert not bad, "\n".join(bad)


def test_the_rule_catches_a_backward_import(tmp_path):
    """The check itself can fail: a generate/ module importing the store is flagged."""
    p = tmp_path / "engine.py"
    p.write_text("def f():\n    from synth.dataset.store import Store\n")
    found = [(line, mod) for line, mod in _imports("synth.generate.engine", p)]
    assert found == [(2, "synth.dataset.store")]
    assert _stage("synth.dataset.store") > _stage("synth.generate.engine")


def test_modules_are_small_and_say_what_they_are_for():
    big, silent = [], []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            big.append(f"{name}: {text.count(chr(10))} lines")
        if path.name != "__init__.py" or text.strip():
            if ast.get_docstring(ast.parse(text)) is None:
                silent.append(name)
    assert not big, big
    assert not silent, f"modules without a docstring saying what they are for: {silent}"


def _cli_imports(name: str, path: Path) -> list[tuple[int, str]]:
    return [(line, mod) for line, mod in _imports(name, path)
            if mod == "synth.cli" or mod.startswith("synth.cli.")]


def test_the_app_never_imports_the_command_line():
    """tui/ goes through the engine's stages (generate, curate, dataset), not argparse-facing
    code: round loops, the judge's setup and price functions live in synth/, not synth/cli/."""
    assert TUI.is_dir()
    bad = []
    for path in sorted(TUI.rglob("*.py")):
        name = ".".join(("tui",) + path.relative_to(TUI).with_suffix("").parts)
        bad += [f"{path.relative_to(ROOT.parent)}:{line}: {name} imports {mod}"
                for line, mod in _cli_imports(name, path)]
    assert not bad, "\n".join(bad)


def test_the_app_rule_catches_a_lazy_cli_import(tmp_path):
    """The check itself can fail: a lazy import, a from-import of the package, a plain import."""
    p = tmp_path / "run_rounds.py"
    p.write_text("import synth.cli.judge\nfrom synth import cli\n"
                 "def f():\n    from synth.cli.run import cost_fn\n"
                 "from synth.curate.until import passing\n")
    found = _cli_imports("tui.run_rounds", p)
    assert found == [(1, "synth.cli.judge"), (2, "synth.cli"), (4, "synth.cli.run")]
