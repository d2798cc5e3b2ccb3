"""A built wheel installs into a fresh venv and runs from anywhere, with its bundled corpora."""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_and_trains_headless(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, timeout=300)
    wheel = next(dist.glob("charlm_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "core/sample_texts/proverbs.txt" in names and "charlm_tui/app.tcss" in names
    assert not any(n.startswith("tests/") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(bin_dir / "charlm-tui"), "--headless", "--steps", "5", "--print-every", "1"],
                            cwd=elsewhere, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "corpus names: 228,146 characters, vocabulary 27" in result.stdout  # the bundled default
    assert "step 5/5" in result.stdout
    result = subprocess.run([str(bin_dir / "python"), "-c", "import textual, charlm_tui.app"], cwd=elsewhere,
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
