"""The README's examples run as written: its command lines (with small step budgets) and its keymap."""

import ast
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from charlm_tui.keymap import read_keymap
from core.settings import RunConfig

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^\s*```{language}\n(.*?)^\s*```", README, re.M | re.S)


def commands() -> list[list[str]]:
    """Every `charlm-tui` command line of the README's shell examples that ends by itself, in order, comments
    removed (a server runs until stopped: the classroom recipe has a test of its own)."""
    lines = [line.split("  #")[0].strip() for block in code_blocks("sh") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("charlm-tui") and not line.startswith("charlm-tui serve")]


def test_the_readme_has_headless_examples():
    assert len([c for c in commands() if "--headless" in c]) >= 4
    assert any("--resume" in c and "--corpus" not in c for c in commands())


def run_commands(folder: Path, until: str | None = None) -> None:
    """The README's command lines in order, in one folder (a later example may use an earlier one's checkpoint),
    up to the first that starts with `until`. Each headless example gets a small step budget (in place of its
    own), larger than the one before so a resumed run trains on."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(folder / "data")}
    for i, argv in enumerate(commands(), start=1):
        args = argv[1:]
        if "--headless" in args:  # a preset of batches gets as many examples, not as many steps
            batch = RunConfig.preset(args[args.index("--preset") + 1]).batch_size if "--preset" in args else 1
            budget = str(max(40 * i // batch, 20))
            args = ([*args[:args.index("--steps") + 1], budget, *args[args.index("--steps") + 2:]] if "--steps" in args
                    else [*args, "--steps", budget])
        result = subprocess.run([sys.executable, "-m", "charlm_tui.cli", *args], cwd=folder, capture_output=True,
                                text=True, timeout=120, env=env)
        assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stderr}"
        assert result.stdout.strip(), shlex.join(argv)
        if "--headless" in args:
            assert "finished after" in result.stdout, f"{shlex.join(argv)}\n{result.stdout}"
        if until is not None and shlex.join(argv).startswith(until):
            return
    assert until is None, f"no command line starts with {until!r}"


def test_every_command_line_runs_as_written(tmp_path):
    run_commands(tmp_path)


def test_the_python_examples_run(tmp_path):
    for block in code_blocks("python"):
        result = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, f"{block}\n{result.stderr}"
        assert result.stdout.strip(), block


def torch_example() -> str:
    (block,) = code_blocks("python torch")
    return block


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A folder where the README's commands have run up to its export."""
    folder = tmp_path_factory.mktemp("readme")
    run_commands(folder, until="charlm-tui export")
    return folder


def test_the_torch_example_uses_what_the_export_writes(exported):
    """Without torch: the example parses, and what it takes from the exported module is in it."""
    module = ast.parse((exported / "names_model.py").read_text(encoding="utf-8"))
    methods = {node.name: {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
               for node in module.body if isinstance(node, ast.ClassDef)}
    example = ast.parse(torch_example())
    (imported,) = [node for node in example.body if isinstance(node, ast.ImportFrom) and node.module == "names_model"]
    for alias in imported.names:
        assert alias.name in methods, alias.name
        used = {node.attr for node in ast.walk(example) if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name) and node.value.id == alias.name}
        assert used <= methods[alias.name], used - methods[alias.name]
    assert (exported / "names.safetensors").stat().st_size > 0


def test_the_torch_example_runs_where_torch_is(exported):
    pytest.importorskip("torch", reason="torch is not installed: the README's PyTorch example did not run")
    pytest.importorskip("safetensors.torch", reason="safetensors is not installed")
    result = subprocess.run([sys.executable, "-c", torch_example()], cwd=exported, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "Embedding(27, 16)" in result.stdout  # print(model) shows the layers of the default model
    loss = re.search(r"loss on the last batch of 32: (\d+\.\d+)", result.stdout)
    assert loss and float(loss[1]) < 3.3, result.stdout  # below a uniform guess's ln 27 = 3.30


def test_the_keymap_example_is_a_valid_keymap(tmp_path):
    (block,) = code_blocks("toml")
    path = tmp_path / "keys.toml"
    path.write_text(block, encoding="utf-8")
    assert read_keymap(path)


def test_the_classroom_recipe_serves_the_page_to_the_token_it_printed(tmp_path):
    """The README's recipe for a class, run by bash as written, in a home folder of its own (`charlm-tui` is
    this checkout's, on a free port): the address it prints opens the page; without the token, nothing."""
    pytest.importorskip("textual_serve", reason="textual-serve is not installed: pip install 'charlm-tui[serve]'")
    (block,) = [block for block in code_blocks("sh") if "charlm-tui serve" in block]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shell = f'charlm-tui() {{ exec {shlex.quote(sys.executable)} -m charlm_tui.cli "$@" --port {port}; }}\n' + block
    server = subprocess.Popen(["bash", "-e", "-c", shell], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True,
                              env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    try:
        said = ""
        while "Ctrl+C" not in said:  # the end of its banner
            line = server.stdout.readline()
            assert line, said
            said += line
        address = re.search(r"http://\S+\?token=\S+", said)
        assert "/class-texts" in said and "30 visitors at once" in said
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        url = address.group(0).replace(address.group(0).split("/")[2].split(":")[0], "127.0.0.1", 1)
        with opener.open(url, timeout=30) as response:
            assert response.status == 200 and "textual-terminal" in response.read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
        assert refused.value.code == 403
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
