"""A built wheel installs into a fresh venv, at the oldest releases its bounds allow, and runs from anywhere."""

import os
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lower_bounds() -> list[str]:
    """`name==version` for each dependency's lower bound in pyproject.toml (the oldest the project says it runs on)."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [f"{match[1]}=={match[2]}" for match in (re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", d) for d in dependencies)
            if match]


def test_every_dependency_has_a_lower_and_an_upper_bound():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(lower_bounds()) == len(dependencies) and all("<" in d for d in dependencies), dependencies


def test_the_wheel_installs_at_its_lower_bounds_and_runs_from_another_folder(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, timeout=300)
    wheel = next(dist.glob("charlm_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "core/sample_texts/proverbs.txt" in names and "charlm_tui/app.tcss" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names) and "charlm_tui/__main__.py" in names
    assert not any(n.startswith("tests/") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    installed = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel), *lower_bounds()],
                               capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and re.search(r"Could not find|No matching distribution|connection|resolve",
                                               installed.stderr, re.I):
        pytest.skip(f"the lower bounds cannot be installed here (no package index?): {installed.stderr[-300:]}")
    assert installed.returncode == 0, installed.stderr
    versions = subprocess.run([str(bin_dir / "python"), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    assert all(pin.lower() in versions.lower() for pin in lower_bounds()), versions  # the oldest, not the newest

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*args: str) -> str:
        result = subprocess.run(args, cwd=elsewhere, capture_output=True, text=True, timeout=180, env=env)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        return result.stdout

    assert run(str(bin_dir / "charlm-tui"), "--version").strip() == "charlm-tui 0.1.0"
    assert "charlm-tui serve" in run(str(bin_dir / "python"), "-m", "charlm_tui", "--help")  # the usage names them
    trained = run(str(bin_dir / "charlm-tui"), "--headless", "--steps", "200", "--sample", "20")
    assert "corpus names: 228,146 characters, vocabulary 27" in trained and "step 200/200" in trained
    header, row = run(str(bin_dir / "charlm-tui"), "runs", "--csv").splitlines()  # that run, for a spreadsheet
    assert header.startswith("id,started,corpus,steps,") and ",names,200," in row
    run(str(bin_dir / "python"), "-c", "import textual, charlm_tui.app")  # the app imports at its oldest textual
