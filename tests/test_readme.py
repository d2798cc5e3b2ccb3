"""The README's examples run as written: its command lines (with small step budgets) and its keymap."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from charlm_tui.keymap import read_keymap

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^\s*```{language}\n(.*?)^\s*```", README, re.M | re.S)


def commands() -> list[list[str]]:
    """Every `charlm-tui` command line of the README's shell examples, in order, comments removed."""
    lines = [line.split("  #")[0].strip() for block in code_blocks("sh") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("charlm-tui")]


def test_the_readme_has_headless_examples():
    assert len([c for c in commands() if "--headless" in c]) >= 4
    assert any("--resume" in c and "--corpus" not in c for c in commands())


def test_every_command_line_runs_as_written(tmp_path):
    """In order, in one folder (a later example may use an earlier one's checkpoint). Each headless
    training example gets a small step budget, larger than the one before so a resumed run trains on."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "data")}
    for i, argv in enumerate(commands(), start=1):
        args = argv[1:]
        if "--headless" in args and "--steps" not in args:
            args += ["--steps", str(40 * i)]
        result = subprocess.run([sys.executable, "-m", "charlm_tui.cli", *args], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120, env=env)
        assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stderr}"
        assert result.stdout.strip(), shlex.join(argv)
        if "--headless" in args:
            assert "finished after" in result.stdout, f"{shlex.join(argv)}\n{result.stdout}"


def test_the_python_examples_run(tmp_path):
    for block in code_blocks("python"):
        result = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, f"{block}\n{result.stderr}"
        assert result.stdout.strip(), block


def test_the_keymap_example_is_a_valid_keymap(tmp_path):
    (block,) = code_blocks("toml")
    path = tmp_path / "keys.toml"
    path.write_text(block, encoding="utf-8")
    assert read_keymap(path)
