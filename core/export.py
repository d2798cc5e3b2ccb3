"""A trained model for a tensor framework: its weights as safetensors, and a PyTorch module that loads them.

The tensors are named and shaped as the state_dict of the module `write_torch_module` writes:
`embedding.weight` (vocab × embed), then per hidden layer `hidden.<i>.weight` (out × in) and
`hidden.<i>.bias` (out), then `output.weight` (vocab × hidden) and `output.bias` (vocab). Our tables
already hold a layer's weights a row per output (y = Wx + b, `core.functional.linear`), which is
nn.Linear's layout (y = x Wᵀ + b), so nothing is transposed.

safetensors is simple enough to write here, with no dependency: 8 bytes giving the header's length
(little-endian), the header (JSON: each tensor's dtype, shape and byte range in the data after the
header, and "__metadata__", an object of strings), then the tensors' raw little-endian values, end to end.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from pathlib import Path
from string import Template
from typing import Callable

from core.checkpoint import Checkpoint, check_writable_path, write_atomically
from core.run import Run

EXPORT_VERSION = "1"  # of the tensor names and metadata keys below
DTYPES = {"float32": ("F32", "f"), "float64": ("F64", "d")}  # safetensors' name, array's typecode
TORCH_ACTIVATIONS = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()"}


class ExportError(ValueError):
    """A model that cannot be exported as asked, with a message that says why."""


def _read(source: Checkpoint | Run, read: Callable[[Checkpoint], object]):
    """read(checkpoint) of a checkpoint, or of a run between two of its steps (it may be training)."""
    if isinstance(source, Run):
        with source.trainer.lock:
            return read(source.to_checkpoint())
    return read(source)


# --- safetensors ---------------------------------------------------------------------------------


def tensor_names(n_hidden: int) -> list[str]:
    """The PyTorch names of the model's tables, in `CharacterLM.tables()` order."""
    layers = [f"hidden.{i}" for i in range(n_hidden)] + ["output"]
    return ["embedding.weight"] + [f"{layer}.{part}" for layer in layers for part in ("weight", "bias")]


def trained_items(checkpoint: Checkpoint) -> str:
    """"lines" if the model was trained a line at a time (each line's start padded with line breaks), else "stream"
    (checkpoints before format 6 say nothing: they were all streams)."""
    return "lines" if checkpoint.corpus.get("items") == "lines" else "stream"


def metadata(checkpoint: Checkpoint) -> dict[str, str]:
    """What a reader needs beside the weights, as strings (the only values safetensors metadata holds)."""
    config = checkpoint.config
    about = {
        "format": "pt",  # Hugging Face's convention: the tensors are a PyTorch state_dict
        "charlm_tui_export": EXPORT_VERSION,
        "vocab": json.dumps(checkpoint.vocab.chars),  # character i is token i
        "config": json.dumps(config.to_json()),
        "context_length": str(config.context_length),
        "items": trained_items(checkpoint),
        "activation": config.activation,
        "step": str(checkpoint.state.step),
    }
    if checkpoint.run_id is not None:
        about["run_id"] = checkpoint.run_id
    return about


def safetensors_bytes(checkpoint: Checkpoint, dtype: str = "float32") -> bytes:
    """The whole safetensors file of `checkpoint`'s model, its weights stored as `dtype`."""
    code, typecode = DTYPES[dtype]
    header: dict = {"__metadata__": metadata(checkpoint)}
    data = bytearray()
    for name, table in zip(tensor_names(checkpoint.model.n_hidden), checkpoint.model.tables()):
        values = array(typecode, (w for row in table.rows() for w in row))
        if not all(map(math.isfinite, values)):  # array stores a float beyond float32's ±3.4e38 as inf
            raise ExportError(f"{name} has weights too large for {dtype}: export them as float64")
        if sys.byteorder == "big":
            values.byteswap()
        rows, cols = table.shape
        header[name] = {"dtype": code, "shape": [cols] if name.endswith(".bias") else [rows, cols],
                        "data_offsets": [len(data), len(data) + len(values) * values.itemsize]}
        data += values.tobytes()
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # as the reference writer pads it: the tensors then start 8-byte aligned
    return struct.pack("<Q", len(encoded)) + encoded + data


def write_safetensors(source: Checkpoint | Run, path: str | Path, dtype: str = "float32") -> Path:
    """Write the model of a checkpoint or a run to `path` as safetensors, atomically; returns the path."""
    if dtype not in DTYPES:
        raise ExportError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    path = check_writable_path(path, "model.safetensors", ExportError, AN_EXPORT)
    write_atomically(path, _read(source, lambda checkpoint: safetensors_bytes(checkpoint, dtype)))
    return path


# --- the PyTorch module ------------------------------------------------------------------------

MODULE_OPENING = '"""A character-level language model from charlm-tui'  # how a module written here begins
TORCH_MODULE = Template('''\
"""A character-level language model from charlm-tui (saved at step $step), as a PyTorch module.

It is the course's CharacterLM (Section 3.5, Building a Character-Level Neural Language Model): the last
$context_length characters are looked up in an embedding table, their embeddings put end to end, then
$hidden_layer_count with $activation, and an output Linear layer gives a logit per character.
Its weights, vocabulary and settings are in the safetensors file `charlm-tui export CKPT --to` writes:

    model = CharacterLM.load("model.safetensors")
    print(model.generate("", 200, temperature=0.8))

or `python this_file.py model.safetensors [PROMPT]`. It needs torch and safetensors.
"""

import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn


class CharacterLM(nn.Module):
    def __init__(self, vocab: str):
        super().__init__()
        self.vocab = vocab  # character i is token i
        self.context_length = $context_length
        self.items = "$items"  # lines: trained a line at a time, each line's start padded with line breaks
        self.embedding = nn.Embedding($vocab_size, $embed_dim)  # the course's Embedding: a row per character
        self.hidden = nn.ModuleList([  # the course's Linear layers: W holds a row per output, y = Wx + b
$hidden_layers
        ])
        self.activation = $torch_activation  # after each hidden layer, not after the output
        self.output = nn.Linear($hidden_dim, $vocab_size)  # a logit per character

    def forward(self, context_indices: torch.Tensor) -> torch.Tensor:
        """Logits for the character after each context: (..., context_length) indices -> (..., vocab size)."""
        x = self.embedding(context_indices).flatten(-2)  # the embeddings end to end, oldest character first
        for layer in self.hidden:
            x = self.activation(layer(x))
        return self.output(x)

    @classmethod
    def load(cls, path) -> "CharacterLM":
        """The model in a safetensors file written by `charlm-tui export`."""
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata()
        model = cls(json.loads(metadata["vocab"]))
        model.config = json.loads(metadata["config"])  # every setting of the run that trained it
        weights = load_file(path)
        model.to(weights["output.bias"].dtype)  # float32 or float64, as exported
        model.load_state_dict(weights)
        return model.eval()

    @torch.no_grad()
    def generate(self, prompt: str, length: int, temperature: float = 1.0, top_k=None, generator=None) -> str:
        """The prompt and `length` characters drawn one by one as charlm-tui's Sampler draws them: from the
        softmax of the logits at `temperature` (0 takes the likeliest), kept to the `top_k` likeliest if given."""
        usable = "".join(c for c in prompt if c in self.vocab)  # characters the model does not know are dropped
        lines = self.items == "lines"
        pad = "\\n" if lines else next((c for c in " \\n" if c in self.vocab), self.vocab[0])  # on the left
        line = usable.rpartition("\\n")[2] if lines else usable  # a line never saw the one before it
        context = [self.vocab.index(c) for c in (pad * self.context_length + line)[-self.context_length:]]
        text = usable
        for _ in range(length):
            logits = self(torch.tensor(context))
            if top_k is not None and 0 < top_k < len(logits):
                kth = torch.topk(logits, top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))  # ties with the k-th stay in
            if temperature <= 0:
                index = logits.argmax().item()  # the first of equal maxima
            else:
                index = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator).item()
            context = context[1:] + [index]  # the window slides: the oldest character out, the new one in
            if lines and self.vocab[index] == "\\n":
                context = [self.vocab.index("\\n")] * self.context_length  # a new line starts from padding
            text += self.vocab[index]
        return text


if __name__ == "__main__":  # python this_file.py model.safetensors [PROMPT]
    import sys

    print(CharacterLM.load(sys.argv[1]).generate(" ".join(sys.argv[2:]), 200))
''')


def written_by_export(path: Path) -> bool:
    """Whether `path` holds what an export writes — a file an export may write over — rather than anything else
    (a checkpoint, a corpus, somebody's code)."""
    try:
        with open(path, "rb") as file:
            if path.suffix == ".py":
                return file.read(len(MODULE_OPENING)).decode("utf-8", "replace") == MODULE_OPENING
            (length,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(min(length, 1 << 20)))
        return "charlm_tui_export" in header["__metadata__"]
    except (OSError, ValueError, struct.error, KeyError, TypeError):
        return False


AN_EXPORT = ("an earlier export", written_by_export)  # what an export may write over


def torch_module_source(checkpoint: Checkpoint) -> str:
    """The Python source of a PyTorch module with the architecture of `checkpoint`'s model."""
    config = checkpoint.config
    fan_in = config.context_length * config.embed_dim
    layers = [f"            nn.Linear({fan_in}, {config.hidden_dim}),  # {config.context_length} embeddings "
              f"of {config.embed_dim}, end to end"]
    layers += [f"            nn.Linear({config.hidden_dim}, {config.hidden_dim}),"] * (config.n_hidden - 1)
    return TORCH_MODULE.substitute(
        step=f"{checkpoint.state.step:,}", context_length=config.context_length, items=trained_items(checkpoint),
        hidden_layer_count=f"{config.n_hidden} hidden Linear layer{'s' if config.n_hidden > 1 else ''}",
        activation=config.activation, vocab_size=len(checkpoint.vocab),
        embed_dim=config.embed_dim, hidden_dim=config.hidden_dim, hidden_layers="\n".join(layers),
        torch_activation=TORCH_ACTIVATIONS[config.activation])


def write_torch_module(source: Checkpoint | Run, path: str | Path) -> Path:
    """Write a PyTorch module for the model of a checkpoint or a run to `path` (a .py file); returns the path."""
    path = check_writable_path(path, "model.py", ExportError, AN_EXPORT)
    write_atomically(path, _read(source, torch_module_source).encode("utf-8"))
    return path
