"""The README's pictures are what the code draws now: `make docs` redraws them; this fails when one is stale."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

from screenshot import PICTURES  # noqa: E402


def test_every_committed_picture_is_what_the_code_draws_now(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "docs" / "screenshot.py"), "--to", str(tmp_path)], check=True,
                   capture_output=True, timeout=600)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in PICTURES:
        assert f"](docs/{name})" in readme, name  # shown
        drawn, committed = (tmp_path / name).read_text(encoding="utf-8"), (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert drawn == committed, f"docs/{name} is not what the code draws now: run `make docs` and look at it"
