"""The command line's manners (issue 23): the output format follows -o's extension,
--print-config, --quiet, a run's settings.json fed back with --config, train's options
derived from the settings' fields, one --device default, and no import cycles in the
package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from helpers import TINY_TRAIN_FLAGS, assert_ok, assert_one_line_error, invoke, stderr_lines

from alternators_cli.cli import app
from alternators_cli.settings import ALL_FIELDS, KIND_SETTINGS

PACKAGE = Path(__file__).resolve().parent.parent / "alternators_cli"


def commands() -> dict:
    return typer.main.get_command(app).commands


# ---- the output format follows -o -----------------------------------------------------


def is_npy(path: Path) -> bool:
    return path.read_bytes()[:6] == b"\x93NUMPY"


@pytest.mark.parametrize("command", ["sample", "data"])
def test_o_npy_writes_npy_and_o_csv_writes_csv(runner, tiny_run, tmp_path, command):
    head = (["sample", "-c", tiny_run.ckpt] if command == "sample" else ["data", "pinwheel"])
    for name, npy in (("x.npy", True), ("x.csv", False), ("x.NPY", True)):
        result = invoke(runner, [*head, "-n", "7", "-o", tmp_path / name])
        assert_ok(result)
        assert is_npy(tmp_path / name) == npy, name
    loaded = np.load(tmp_path / "x.npy")
    assert loaded.shape == (7, 2)


@pytest.mark.parametrize("flags", [["--format", "csv", "-o", "x.npy"],
                                   ["--format", "npy", "-o", "x.csv"]])
def test_a_format_that_contradicts_the_extension_is_one_line_exit_2(runner, tiny_run,
                                                                     tmp_path, flags):
    flags = [str(tmp_path / f) if f.startswith("x.") else f for f in flags]
    for head in (["sample", "-c", tiny_run.ckpt], ["data", "pinwheel"]):
        line = assert_one_line_error(invoke(runner, [*head, "-n", "3", *flags]))
        assert "--format" in line and "-o" in line
    assert list(tmp_path.iterdir()) == []


def test_without_an_extension_format_decides_and_csv_is_the_default(runner, tmp_path):
    assert_ok(invoke(runner, ["data", "pinwheel", "-n", "4", "-o", tmp_path / "plain"]))
    assert (tmp_path / "plain").read_text().startswith("x0,x1\n")
    result = invoke(runner, ["data", "pinwheel", "-n", "4", "--format", "npy",
                             "-o", tmp_path / "other.bin"])
    assert_ok(result)
    assert is_npy(tmp_path / "other.bin")
    result = invoke(runner, ["data", "pinwheel", "-n", "4", "--format", "csv", "-o", "-"])
    assert_ok(result)
    assert result.stdout.startswith("x0,x1\n")


def test_forecast_and_impute_take_the_format_from_o(runner, tmp_path):
    from alternators_cli.datasets import draw_builtin

    history = tmp_path / "history.csv"
    np.savetxt(history, draw_builtin("lorenz", 40, seed=1), delimiter=",", fmt="%.5f")
    out = tmp_path / "paths.npy"
    result = invoke(runner, ["forecast", "-c", "pretrained:lorenz", "--input", history,
                             "-H", "3", "-n", "4", "-o", out, "--device", "cpu"])
    assert_ok(result)
    assert np.load(out).shape == (4, 3, 20)
    line = assert_one_line_error(invoke(runner, [
        "impute", "-c", "pretrained:lorenz", "--input", history, "-n", "2",
        "--format", "csv", "-o", tmp_path / "filled.npy"]))
    assert "--format" in line


# ---- --print-config and the settings file of a run -----------------------------------


def test_print_config_prints_the_settings_and_trains_nothing(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALTERNATORS_HIDDEN", "24")
    result = invoke(runner, ["train", "pinwheel", "--print-config", "--epochs", "7",
                             "--out", tmp_path / "never"])
    assert_ok(result)
    settings = json.loads(result.stdout)
    assert settings["epochs"] == 7 and settings["hidden"] == 24  # a flag, the environment
    assert settings["kind"] == "distribution" and settings["steps"] == 15  # the defaults
    assert sorted(tmp_path.iterdir()) == []  # no run directory, no runs/


def test_print_config_of_a_sequence_set_has_its_kind_and_defaults(runner):
    result = invoke(runner, ["train", "lorenz", "--print-config"])
    assert_ok(result)
    settings = json.loads(result.stdout)
    defaults = KIND_SETTINGS["sequence"]()
    # lorenz's own default (a stationary attractor: levels); a file gets changes
    assert defaults.increments and not settings["increments"]
    assert settings == {**defaults.model_dump(mode="json"), "increments": False}


def test_print_config_of_a_table_shows_the_defaults_its_data_decides(runner, tmp_path):
    table = tmp_path / "table.csv"
    rng = np.random.default_rng(0)
    table.write_text("a,b,c\n" + "".join(f"{x:.4f},{y:.4f},{z:.4f}\n"
                                         for x, y, z in rng.normal(size=(60, 3))))
    result = invoke(runner, ["train", table, "--print-config"])
    assert_ok(result)
    settings = json.loads(result.stdout)
    # what a narrow table trains with, not the built-in sets' 15 steps and latent of 20
    assert settings["steps"] == 8 and settings["latent_dim"] == 14
    given = json.loads(invoke(runner, ["train", table, "--print-config", "--steps", "15"]).stdout)
    assert given["steps"] == 15


def test_a_builtin_default_yields_to_every_source_of_settings(runner, monkeypatch):
    given = invoke(runner, ["train", "lorenz", "--increments", "--print-config"])
    assert_ok(given)
    assert json.loads(given.stdout)["increments"] is True
    monkeypatch.setenv("ALTERNATORS_INCREMENTS", "true")
    from_env = invoke(runner, ["train", "lorenz", "--print-config"])
    assert_ok(from_env)
    assert json.loads(from_env.stdout)["increments"] is True


def test_print_config_refuses_bad_settings_like_training_does(runner):
    line = assert_one_line_error(invoke(runner, ["train", "pinwheel", "--print-config",
                                                 "--window", "8"]))
    assert "--window" in line


def test_a_runs_settings_json_as_config_repeats_the_run(runner, tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    assert_ok(invoke(runner, ["train", "pinwheel", "--out", first, *TINY_TRAIN_FLAGS,
                              "--seed", "5", "--alpha", "0.6", "--quiet"]))
    result = invoke(runner, ["train", "pinwheel", "--out", again, "--quiet",
                             "--config", first / "settings.json"])
    assert_ok(result)
    assert (again / "settings.json").read_text() == (first / "settings.json").read_text()
    assert json.loads((again / "settings.json").read_text())["alpha"] == 0.6
    samples = [invoke(runner, ["sample", "-c", run / "model.pt", "-n", "50", "--device",
                               "cpu"]).stdout for run in (first, again)]
    assert samples[0] == samples[1] and samples[0].count("\n") == 51


# ---- --quiet ----------------------------------------------------------------------------


def test_train_quiet_prints_only_the_result(runner, tmp_path):
    loud = invoke(runner, ["train", "pinwheel", "--out", tmp_path / "a", *TINY_TRAIN_FLAGS])
    assert_ok(loud)
    assert any(line.startswith("training on pinwheel") for line in stderr_lines(loud))
    quiet = invoke(runner, ["train", "pinwheel", "--out", tmp_path / "b", "-q",
                            *TINY_TRAIN_FLAGS])
    assert_ok(quiet)
    assert stderr_lines(quiet) == []
    assert "energy distance" in quiet.stdout  # the evaluation is the result: it stays


def test_quiet_silences_animate_and_evaluate_but_not_errors(runner, tiny_run, tmp_path):
    gif = tmp_path / "a.gif"
    loud = invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o", gif, "-n", "50"])
    assert_ok(loud)
    assert [line.split()[0] for line in stderr_lines(loud)] == ["wrote"]
    quiet = invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o", gif, "-n", "50", "-q"])
    assert_ok(quiet)
    assert stderr_lines(quiet) == []
    quiet = invoke(runner, ["evaluate", "-c", tiny_run.ckpt, "-n", "100", "-q",
                            "--plot", tmp_path / "e.png", "--reference", "pinwheel"])
    assert_ok(quiet)
    assert stderr_lines(quiet) == [] and (tmp_path / "e.png").exists()
    assert_one_line_error(invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o",
                                          tmp_path / "a.png", "-q"]))


def test_forecast_quiet_has_no_notes(runner, tmp_path):
    from alternators_cli.datasets import draw_builtin

    history = tmp_path / "h.csv"
    np.savetxt(history, draw_builtin("lorenz", 30, seed=2), delimiter=",", fmt="%.5f")
    args = ["forecast", "-c", "pretrained:lorenz", "--input", history, "-H", "2", "-n", "3",
            "--plot", tmp_path / "fan.png", "--device", "cpu"]
    assert stderr_lines(invoke(runner, args)) != []
    quiet = invoke(runner, [*args, "--quiet"])
    assert_ok(quiet)
    assert stderr_lines(quiet) == [] and quiet.stdout.startswith("step,")


@pytest.mark.parametrize("command", ["train", "sample", "evaluate", "animate", "forecast",
                                     "impute"])
def test_every_command_that_speaks_has_quiet(command):
    names = {opt for p in commands()[command].params for opt in p.opts}
    assert "--quiet" in names


# ---- --json -----------------------------------------------------------------------------


def test_animate_json_says_what_it_wrote(runner, tiny_run, tmp_path):
    gif = tmp_path / "c.gif"
    result = invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o", gif, "-n", "40",
                             "--json"])
    assert_ok(result)
    doc = json.loads(result.stdout)
    assert doc["output"] == str(gif) and doc["frames"] >= tiny_run.steps and doc["fps"] == 4.0
    assert_one_line_error(invoke(runner, ["animate", "-c", tiny_run.ckpt, "-o", "-",
                                          "--json"]))


# ---- options derived from the settings ----------------------------------------------


def test_every_setting_is_a_train_option_with_its_fields_help_and_defaults():
    params = {p.name: p for p in commands()["train"].params}
    for name, field in ALL_FIELDS.items():
        param = params[name]  # every setting can be given as a flag
        assert param.opts[0] == "--" + name.replace("_", "-")
        owners = {kind: cls.model_fields[name].default for kind, cls in KIND_SETTINGS.items()
                  if name in cls.model_fields}
        shown = str(param.show_default)
        for default in owners.values():
            value = getattr(default, "value", default)
            assert str(value) in shown or name == "kind", (name, shown)
        differ = len({str(v) for v in owners.values()}) > 1
        assert ("sequences" in shown) == (differ and name != "kind"), (name, shown)
        description = field.description.lower()
        assert description[1:] in param.help.lower(), name
        if len(owners) == 1:
            prefix = {"sequence": "Sequences:", "distribution": "Distributions:"}
            assert param.help.startswith(prefix[next(iter(owners))]), name
        assert param.rich_help_panel, name


def test_train_help_shows_both_kinds_defaults_in_panels(runner):
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert_ok(result)
    text = result.stdout
    assert "400; sequences 30" in text and "64; sequences 128" in text
    assert "Sequences: time steps per training window" in text
    for panel in ("Data", "Model", "Noise", "Training", "Run and output"):
        assert f"─ {panel} ─" in text, panel


def test_the_enums_of_the_options_are_the_settings_own():
    import typing

    from alternators_cli import settings
    from alternators_cli.cli import train

    hints = typing.get_type_hints(train.train)
    for name, enum in (("objective", settings.Objective), ("activation", settings.Activation),
                       ("normalize", settings.Normalize), ("transform", settings.Transform),
                       ("precision", settings.Precision), ("kind", settings.Kind)):
        assert hints[name] == enum | None, name


def test_device_defaults_to_auto_everywhere():
    seen = 0
    for name, command in commands().items():
        for param in command.params:
            if "--device" in param.opts:
                default = param.default if name != "train" else param.show_default
                assert default == "auto", name
                seen += 1
    assert seen >= 6


def test_completion_is_offered():
    names = {opt for p in typer.main.get_command(app).params for opt in p.opts}
    assert {"--install-completion", "--show-completion"} <= names


def test_version_does_not_load_typer_or_pydantic():
    code = ("import sys; sys.argv = ['alternators', '--version']\n"
            "from alternators_cli.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('typer', 'pydantic', 'torch', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].startswith("alternators ") and out[-1] == "[]"


# ---- no import cycles -----------------------------------------------------------------


def runtime_nodes(tree: ast.AST):
    """Every node of `tree` but those under `if TYPE_CHECKING:` (never imported)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = getattr(child, "test", None) if isinstance(child, ast.If) else None
            if test is not None and "TYPE_CHECKING" in ast.unparse(test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at the top or inside a function
    (imports for type checkers only are not imports)."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(up + ([source] if source else []))
                names = [a.name for a in node.names]
                subs = {f"{source}.{n}" for n in names} & modules.keys()
                deps |= subs
                if len(subs) < len(names):
                    deps.add(source)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycles():
    graph = import_graph(PACKAGE)
    assert "alternators_cli.cli.train" in graph and "alternators_cli.runs" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_benchmarks_have_no_import_cycles_and_one_seam_to_the_package():
    graph = import_graph(PACKAGE.parent / "benchmarks")
    assert "benchmarks.quality" in graph and "benchmarks.common" in graph["benchmarks.quality"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    for path in (PACKAGE.parent / "benchmarks").glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported.add((node.module or "").split(".")[0])
        assert path.name == "common.py" or "alternators_cli" not in imported, path.name


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    assert find_cycle(import_graph(pkg)) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from pkg import a\n")
    assert find_cycle(import_graph(pkg)) is None


def test_no_module_of_the_package_is_over_400_lines():
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path.relative_to(PACKAGE)


def test_help_paragraphs_wrap_at_the_terminal_width_not_at_the_docstring(runner):
    result = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert_ok(result)
    assert "each with its floor (the same metric between two reference draws)" in result.stdout
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert any(line.endswith("model.pt \\") for line in lines)  # a shell example keeps it


def _openmp_env(**given: str) -> list[str]:
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(given)
    code = ("import os, sys\n"
            "from alternators_cli.cli import limit_openmp_spinning\n"
            "limit_openmp_spinning()\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'), "
            "'torch' in sys.modules)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env).stdout.split()


def test_the_command_line_limits_openmp_spinning_unless_told_otherwise():
    # Set before torch loads (OpenMP reads it then); what the caller set is kept.
    assert _openmp_env() == ["None", "300", "False"]
    assert _openmp_env(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "None", "False"]
    assert _openmp_env(GOMP_SPINCOUNT="10000") == ["None", "10000", "False"]


def test_loading_a_checkpoint_does_not_import_torch_dynamo():
    # The shape check builds the model on the meta device; ops there that fall back to
    # torch's reference implementations import torch._dynamo, a second or more per start.
    code = ("import sys\n"
            "from alternators_cli import checkpoint\n"
            "checkpoint.load('pretrained:pinwheel')\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"]


def test_the_collector_is_off_while_torch_loads_and_on_after():
    code = ("import gc, sys\n"
            "from alternators_cli.cli.startup import collect_after_torch\n"
            "collect_after_torch()\n"
            "import numpy\n"
            "off = not gc.isenabled()\n"
            "import torch\n"
            "hooks = [f for f in sys.meta_path if type(f).__name__ == '_CollectAfter']\n"
            "print(off, gc.isenabled(), hooks == [], gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True", "True"]
