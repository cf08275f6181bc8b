"""The installed layout: everything under ``livefx``, models independent of the engine."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_models_import_nothing_from_the_engine():
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in imported_modules(path) if n.startswith("livefx.stream"))
        for path in (REPO / "models").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("folder", ["models", "stream"])
def test_inside_each_folder_imports_are_relative_so_tools_reading_the_tree_see_them(folder):
    """Issue 32: ``from .stage import Stage``, not ``from livefx.models.stage ...``: an import-graph
    tool or an IDE without the install resolves relative imports by path. (stream -> models
    keeps the absolute ``livefx.models``: the repository root is not a package.)"""
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in imported_modules(path) if n.startswith(f"livefx.{folder}"))
        for path in (REPO / folder).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def is_bench(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "bench" or parts[:2] == ["livefx", "bench"]


def test_the_engine_and_the_models_never_import_the_bench():
    """The bench is a client of the engine (``livefx-bench``), never the other way round."""
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in imported_modules(path) if is_bench(n))
        for folder in ("stream", "models")
        for path in (REPO / folder).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_is_imported_under_a_bare_top_level_name():
    """A bare ``models``/``stream``/``web`` import would load a second copy beside ``livefx.*``."""
    bare = {"stream", "models", "web"}
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in imported_modules(path) if n.split(".")[0] in bare)
        for folder in ("stream", "models", "web", "bench", "tests")
        for path in (REPO / folder).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.slow
def test_the_wheel_installs_only_livefx_and_no_training_scripts(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    major, minor = (int(v) for v in setuptools.__version__.split(".")[:2])
    if (major, minor) < (70, 1) and importlib.util.find_spec("wheel") is None:
        pytest.skip(f"setuptools {setuptools.__version__} without the wheel package cannot build wheels offline")
    # From a copy without build outputs: setuptools reuses a checkout's stale build/ folder.
    source = tmp_path / "src"
    outputs = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "test-artifacts")
    shutil.copytree(REPO, source, ignore=outputs)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("livefx-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"livefx"}
    assert not [n for n in names if n.startswith("livefx/models/train/")]
    shipped_files = (
        "livefx/stream/cli/main.py",
        "livefx/web/index.html",
        "livefx/models/weights/styles/udnie.safetensors",
        "livefx/models/weights/styles/light/rain_princess.safetensors",
    )
    for shipped in shipped_files:
        assert shipped in names
    top_level = [n for n in names if n.endswith("top_level.txt")]
    assert not top_level or zipfile.ZipFile(wheel).read(top_level[0]).decode().split() == ["livefx"]


@pytest.mark.slow
def test_the_cli_runs_from_another_directory_with_a_foreign_models_package_on_the_path(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("raise ImportError('the wrong models package')\n")
    (tmp_path / "stream").mkdir()
    (tmp_path / "stream" / "__init__.py").write_text("raise ImportError('the wrong stream package')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "livefx.stream", "weights"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "udnie" in proc.stdout
