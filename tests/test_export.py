"""Export: numpy reads our safetensors file back and reproduces the model's logits, and the PyTorch module
written beside it has the model's layers (and, where torch is installed, its logits and greedy text)."""

import ast
import json
import random
import runpy
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from charlm_tui.cli import main
from charlm_tui.export_cli import export_main
from core import functional as F
from core.checkpoint import Checkpoint, load_checkpoint
from core.data import Corpus, Vocabulary
from core.export import (TORCH_ACTIVATIONS, ExportError, tensor_names, torch_module_source, write_safetensors,
                         write_torch_module)
from core.run import Run
from core.sampling import FrozenModel, generate
from core.settings import RunConfig
from core.training import TrainerState

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ' \n"\\abcdeé.'  # a quote, a backslash, a newline and a non-ASCII letter: the metadata must carry them
NUMPY_ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh}
SHAPES = [(activation, n_hidden) for activation in ("relu", "tanh") for n_hidden in (1, 3)]


def make_checkpoint(activation: str = "relu", n_hidden: int = 2, seed: int = 0) -> Checkpoint:
    """A model with random weights, biases included (a new model's are 0), and sizes all different, so a
    transposed or misplaced table shows."""
    config = RunConfig.preset("default").replace(context_length=3, embed_dim=4, hidden_dim=7, n_hidden=n_hidden,
                                                 activation=activation)
    model = config.build_model(len(VOCAB))
    rng = random.Random(seed)
    model.load_weights([[[rng.gauss(0, 0.5) for _ in range(cols)] for _ in range(rows)]
                        for rows, cols in (table.shape for table in model.tables())])
    return Checkpoint(model, Vocabulary(VOCAB), config, TrainerState(step=123), {"name": "test"}, "run-0123")


def random_contexts(context_length: int, vocab_size: int, count: int = 100) -> list[list[int]]:
    rng = random.Random(1)
    return [[rng.randrange(vocab_size) for _ in range(context_length)] for _ in range(count)]


def numpy_logits(tensors: dict, activation: str, contexts: list[list[int]]) -> np.ndarray:
    """The model's forward pass as PyTorch's layers compute it: embeddings concatenated in context order,
    then x @ W.T + b and the activation per hidden layer, then the output layer (in float64)."""
    weights = {name: array.astype(np.float64) for name, array in tensors.items()}
    x = weights["embedding.weight"][np.array(contexts)].reshape(len(contexts), -1)
    layer = 0
    while f"hidden.{layer}.weight" in weights:
        x = NUMPY_ACTIVATIONS[activation](x @ weights[f"hidden.{layer}.weight"].T + weights[f"hidden.{layer}.bias"])
        layer += 1
    return x @ weights["output.weight"].T + weights["output.bias"]


def our_logits(model, contexts: list[list[int]]) -> np.ndarray:
    frozen = FrozenModel.from_model(model)
    return np.array([frozen.logits(context) for context in contexts])


def assert_reproduces(path: Path, checkpoint: Checkpoint) -> None:
    contexts = random_contexts(checkpoint.config.context_length, len(checkpoint.vocab))
    expected = our_logits(checkpoint.model, contexts)
    np.testing.assert_allclose(numpy_logits(load_file(path), checkpoint.config.activation, contexts), expected,
                               rtol=0, atol=1e-6)


# --- the safetensors file --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation, n_hidden", SHAPES)
def test_numpy_reproduces_our_logits_for_100_contexts(tmp_path, activation, n_hidden, dtype):
    checkpoint = make_checkpoint(activation, n_hidden)
    path = write_safetensors(checkpoint, tmp_path / "model.safetensors", dtype)
    tensors = load_file(path)
    assert list(tensors) == tensor_names(n_hidden)
    assert {array.dtype for array in tensors.values()} == {np.dtype(dtype)}
    assert_reproduces(path, checkpoint)


def test_float64_holds_the_weights_bit_for_bit_and_float32_rounds_them(tmp_path):
    checkpoint = make_checkpoint()
    ours = [np.array(rows) for rows in checkpoint.model.weights()]
    exact = load_file(write_safetensors(checkpoint, tmp_path / "64.safetensors", "float64"))
    rounded = load_file(write_safetensors(checkpoint, tmp_path / "32.safetensors", "float32"))
    for name, table in zip(tensor_names(2), ours):
        table = table.reshape(exact[name].shape)  # a bias is one row here, a vector there
        assert np.array_equal(exact[name], table)
        assert np.array_equal(rounded[name], table.astype(np.float32))


def test_the_metadata_carries_the_vocabulary_and_the_settings(tmp_path):
    checkpoint = make_checkpoint("tanh", 3)
    path = write_safetensors(checkpoint, tmp_path / "model.safetensors")
    with safe_open(path, framework="np") as f:
        metadata = f.metadata()
    assert json.loads(metadata["vocab"]) == VOCAB
    assert RunConfig(**json.loads(metadata["config"])) == checkpoint.config
    about = [metadata[key] for key in ("context_length", "activation", "step", "run_id")]
    assert about == ["3", "tanh", "123", "run-0123"]
    assert (metadata["format"], metadata["charlm_tui_export"]) == ("pt", "1")


@pytest.mark.parametrize("dtype, itemsize", [("float32", 4), ("float64", 8)])
def test_the_header_is_valid_safetensors(tmp_path, dtype, itemsize):
    """8 bytes of little-endian length, a JSON header padded with spaces to 8 bytes, then every tensor's
    bytes end to end from offset 0 to the end of the file, each aligned to its item size."""
    raw = write_safetensors(make_checkpoint(), tmp_path / "model.safetensors", dtype).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    json_text = raw[8:8 + length].rstrip(b" ")
    assert length % 8 == 0 and length - len(json_text) < 8  # padded with at most 7 spaces
    assert json_text.startswith(b"{") and json_text.endswith(b"}")
    header = json.loads(json_text)
    assert all(isinstance(value, str) for value in header.pop("__metadata__").values())
    end = 0
    for name, entry in header.items():  # in the model's order, each starting where the last ended
        begin, stop = entry["data_offsets"]
        assert begin == end and begin % itemsize == 0, name
        assert stop - begin == int(np.prod(entry["shape"])) * itemsize and entry["dtype"] == dtype.replace("float", "F")
        end = stop
    assert end == len(raw) - 8 - length


def test_a_run_exports_its_current_weights(tmp_path, proverbs):
    run = Run.new(Corpus(proverbs), RunConfig.preset("course"))
    for _ in range(20):  # trained, so the biases are no longer 0
        run.trainer.step()
    path = write_safetensors(run, tmp_path / "model.safetensors")
    with safe_open(path, framework="np") as f:
        assert f.metadata()["run_id"] == run.id
    assert_reproduces(path, run.to_checkpoint())


def test_refuses_weights_float32_cannot_hold_a_directory_a_missing_folder_and_an_unknown_dtype(tmp_path):
    huge = make_checkpoint()
    huge.model.output.bias.load([[1e39] * len(VOCAB)])
    with pytest.raises(ExportError, match="output.bias has weights too large for float32: export them as float64"):
        write_safetensors(huge, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
    write_safetensors(huge, tmp_path / "model.safetensors", "float64")
    with pytest.raises(ExportError, match="is a directory"):
        write_safetensors(make_checkpoint(), tmp_path)
    with pytest.raises(ExportError, match="does not exist"):
        write_torch_module(make_checkpoint(), tmp_path / "missing" / "model.py")
    with pytest.raises(ExportError, match="float32, float64"):
        write_safetensors(make_checkpoint(), tmp_path / "model.safetensors", "float16")


def test_core_export_imports_no_numpy_torch_or_safetensors():
    code = "import sys, core.export\nprint(sorted({'numpy', 'torch', 'safetensors'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the PyTorch module ------------------------------------------------------------------------------


def layer_calls(source: str) -> list[tuple]:
    """Every layer nn.<Layer>(...) the source builds, with its arguments, in the order of the source."""
    calls = sorted((node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "nn" and node.func.attr != "ModuleList"),
                   key=lambda node: (node.lineno, node.col_offset))
    return [(node.func.attr, *(ast.literal_eval(arg) for arg in node.args)) for node in calls]


@pytest.mark.parametrize("activation, n_hidden", SHAPES)
def test_the_module_compiles_and_builds_the_models_layers(tmp_path, activation, n_hidden):
    checkpoint = make_checkpoint(activation, n_hidden)
    source = write_torch_module(checkpoint, tmp_path / "model.py").read_text()
    compile(source, "model.py", "exec")
    vocab, context, embed, hidden = len(VOCAB), 3, 4, 7
    torch_activation = {"relu": "ReLU", "tanh": "Tanh"}[activation]
    assert layer_calls(source) == [("Embedding", vocab, embed), ("Linear", context * embed, hidden),
                                   *[("Linear", hidden, hidden)] * (n_hidden - 1), (torch_activation,),
                                   ("Linear", hidden, vocab)]
    assert "import torch" in source and "step 123" in source


def test_every_activation_has_a_torch_layer():
    assert set(TORCH_ACTIVATIONS) == set(F.ACTIVATIONS)


@pytest.mark.parametrize("activation, n_hidden", SHAPES)
def test_torch_loads_the_file_and_gives_our_logits_and_greedy_text(tmp_path, activation, n_hidden):
    torch = pytest.importorskip("torch", reason="torch is not installed: the generated module's logits and greedy "
                                "generation are compared with ours only where it is")
    checkpoint = make_checkpoint(activation, n_hidden)
    weights = write_safetensors(checkpoint, tmp_path / "model.safetensors", "float64")
    module = runpy.run_path(str(write_torch_module(checkpoint, tmp_path / "model.py")))
    model = module["CharacterLM"].load(str(weights))
    contexts = random_contexts(3, len(VOCAB))
    logits = model(torch.tensor(contexts)).tolist()
    np.testing.assert_allclose(np.array(logits), our_logits(checkpoint.model, contexts), rtol=0, atol=1e-6)
    vocab = checkpoint.vocab
    for prompt in ("", "ab", "zz a\"b"):  # empty: all padding; "z" is not in the vocabulary
        ours = generate(checkpoint.model, vocab.idx_to_char, vocab.char_to_idx, prompt, 40, temperature=0)
        assert model.generate(prompt, 40, temperature=0) == ours
        assert model.generate(prompt, 40, temperature=1.0, top_k=1) == ours


# --- the command line ------------------------------------------------------------------------------


@pytest.fixture
def trained(tmp_path) -> Path:
    path = tmp_path / "model.json"
    assert main(["--headless", "--steps", "50", "--sample", "0", "--save", str(path)]) == 0
    return path


def test_export_writes_both_files_from_a_trained_checkpoint(tmp_path, trained, capsys):
    capsys.readouterr()
    weights, script = tmp_path / "out.safetensors", tmp_path / "out.py"
    assert export_main([str(trained), "--to", str(weights), "--torch-module", str(script)]) == 0
    out = capsys.readouterr().out
    assert f"weights: {weights}" in out and "as float32" in out and f"PyTorch module: {script}" in out
    checkpoint = load_checkpoint(trained)
    assert_reproduces(weights, checkpoint)
    assert script.read_text() == torch_module_source(checkpoint)
    assert export_main([str(trained), "--to", str(weights), "--float64", "--torch-module", str(script)]) == 0
    assert {array.dtype for array in load_file(weights).values()} == {np.dtype("float64")}  # an export writes over
    assert script.read_text() == torch_module_source(checkpoint)  # the files an earlier export wrote


BAD_EXPORTS = {  # what is asked: (the arguments, with {ckpt} and {tmp}, and what the one line of error says)
    "nothing to write": (["{ckpt}"], "nothing to write"),
    "--float64 without --to": (["{ckpt}", "--float64", "--torch-module", "{tmp}/m.py"], "--float64"),
    "a missing checkpoint": (["{tmp}/missing.json", "--to", "{tmp}/ok.safetensors"], "no such checkpoint file"),
    "a text file": (["{tmp}/notes.txt", "--to", "{tmp}/ok.safetensors"], "is not a checkpoint"),
    "another JSON file": (["{tmp}/other.json", "--to", "{tmp}/ok.safetensors"], "is not a charlm-tui checkpoint"),
    "a directory": (["{ckpt}", "--to", "{tmp}"], "is a directory"),
    "a missing folder": (["{ckpt}", "--to", "{tmp}/ok.safetensors", "--torch-module", "{tmp}/no/m.py"],
                         "does not exist"),
    "the checkpoint itself": (["{ckpt}", "--to", "{ckpt}"], "name it *.safetensors, e.g. model.safetensors"),
    "one file for both": (["{ckpt}", "--to", "{tmp}/ok.safetensors", "--torch-module", "{tmp}/ok.safetensors"],
                          "--torch-module ok.safetensors: name it *.py"),
    "weights named otherwise": (["{ckpt}", "--to", "{tmp}/m.pt"], "name it *.safetensors, e.g. m.safetensors"),
    "a module named otherwise": (["{ckpt}", "--torch-module", "{tmp}/m.txt"], "name it *.py, e.g. m.py"),
    "over another file": (["{ckpt}", "--to", "{tmp}/taken.safetensors"], "exists and is not an earlier export"),
    "over somebody's code": (["{ckpt}", "--to", "{tmp}/ok.safetensors", "--torch-module", "{tmp}/taken.py"],
                             "exists and is not an earlier export"),
}


@pytest.mark.parametrize("case", list(BAD_EXPORTS))
def test_a_bad_export_exits_2_with_one_line_and_writes_nothing(tmp_path, trained, capsys, case):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    taken = {tmp_path / "taken.safetensors": "precious", tmp_path / "taken.py": "print('mine')\n"}
    for path, text in taken.items():
        path.write_text(text)
    arguments, says = BAD_EXPORTS[case]
    before = trained.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        export_main([argument.format(ckpt=trained, tmp=tmp_path) for argument in arguments])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("charlm-tui export: error: ") and says in err and err.count("\n") == 1, err
    assert not (tmp_path / "ok.safetensors").exists() and trained.read_bytes() == before
    assert all(path.read_text() == text for path, text in taken.items())


def test_a_failed_write_exits_1_with_one_line(tmp_path, trained, capsys, monkeypatch):
    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.export.write_atomically", full)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        export_main([str(trained), "--to", str(tmp_path / "model.safetensors")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err == "charlm-tui export: error: could not write the export: [Errno 28] No space left on device\n"


def test_the_old_option_name_still_works_and_says_the_new_one(trained, tmp_path, capsys):
    module = tmp_path / "old_name.py"
    assert export_main([str(trained), "--torch-script", str(module)]) == 0
    assert module.exists() and "--torch-script is now --torch-module" in capsys.readouterr().err
