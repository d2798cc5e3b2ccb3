"""Checkpoints: one JSON file with everything needed to resume training bit for bit.

Written atomically (a temporary file in the same folder, flushed and fsynced, then renamed over the
target), so a crash or a kill mid-write leaves the old checkpoint or the new one, never half of one.
JSON only: loading a file never runs code from it. Loading checks the format, the version, the shapes
and the vocabulary, and says what is wrong in a CheckpointError.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.data import Vocabulary, read_file_text
from core.model import CharacterLM, check_weights, table_shapes
from core.optim import optimizer_for
from core.places import OutsideError, writable
from core.settings import RunConfig, SettingError
from core.training import TrainerState

FORMAT = "charlm-tui-checkpoint"
CHECKPOINT_OPENING = re.compile(rb'\s*\{\s*"format"\s*:\s*"charlm-tui-checkpoint"')  # how every version begins
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
VERSION = 6  # 6: how examples are cut is a setting (items; older runs were cut as a stream); 5: the optimiser's state (momentum, Adam's moments); 4: the trainer's loss history is bounded (the latest
# losses, a downsampled curve); 3: the split is a setting (v1-2 held out the tail); 2: every setting in one "settings"
# object; 1 split them into "model" and "train"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with a message that says why."""


@dataclass
class Checkpoint:
    model: CharacterLM
    vocab: Vocabulary
    config: RunConfig
    state: TrainerState
    corpus: dict  # the text trained on: name, path, whether bundled, characters, fingerprint
    run_id: str | None = None  # the run that saved it, as the run history names it
    optimizer: dict | None = None  # the optimiser's state (Optimizer.state_dict): None before version 5, or fresh


def to_json(checkpoint: Checkpoint) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "settings": checkpoint.config.to_json(),
        "vocab": checkpoint.vocab.chars,
        "corpus": checkpoint.corpus,
        "run_id": checkpoint.run_id,
        "trainer": checkpoint.state.to_json(),
        "optimizer": checkpoint.optimizer,
        "weights": checkpoint.model.weights(),
    }


def check_writable_path(path: str | Path, example: str, error: type[ValueError],
                        ours: tuple[str, Callable[[Path], bool]]) -> Path:
    """The path a file can be written to, or `error` saying why not (`example` is the file name it suggests).

    It replaces only what is the program's own: a new path, an empty file, or a file `ours` recognises by its
    first bytes (an earlier checkpoint, an earlier export; `ours` is what it is called, and the test) that its
    owner may write; never a directory, a device, a pipe, a symbolic link or a read-only file, even for root.
    Its folder must exist and be writable.
    """
    try:
        path = writable(path)  # where a served visitor may write
    except OutsideError as outside:
        raise error(str(outside)) from None
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise error(f"{path} is a symbolic link: it is left as it is; give the file it points to, or another name")
    if path.is_dir():
        raise error(f"{path} is a directory: give a file name, e.g. {path / example}")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a regular file (a device or a pipe): choose a file name")
    if info is not None and not info.st_mode & stat.S_IWUSR:
        raise error(f"{path} is read-only: it is left as it is; choose another name (or make it writable first)")
    name, recognise = ours
    if info is not None and info.st_size and not recognise(path):
        raise error(f"{path} exists and is not {name}: it is left as it is; choose "
                    "another name, or remove it first")
    if not path.parent.is_dir():
        raise error(f"the folder {path.parent} does not exist: create it or choose another path")
    if not os.access(path.parent, os.W_OK):
        raise error(f"the folder {path.parent} is not writable: choose another path")
    return path


def is_checkpoint_file(path: Path) -> bool:
    """Whether `path` begins as every charlm-tui checkpoint does (its format named first)."""
    try:
        with open(path, "rb") as file:
            return CHECKPOINT_OPENING.match(file.read(256)) is not None
    except OSError:
        return False


def check_save_path(path: str | Path, corpus_file: str | None = None) -> Path:
    """The path a checkpoint can be written to, or a CheckpointError saying why not (checked before training).

    Never the corpus file being trained on (`corpus_file`), nor anything `check_writable_path` refuses: what is
    there already is replaced only when it is an earlier checkpoint (or empty).
    """
    if corpus_file is not None and os.path.exists(path) and os.path.samefile(path, corpus_file):
        raise CheckpointError(f"{path} is the corpus this model trains on: saving there would overwrite it; "
                              "choose another name, e.g. model.json")
    return check_writable_path(path, "model.json", CheckpointError, ("a charlm-tui checkpoint", is_checkpoint_file))


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, flushed, fsynced and renamed over
    it, so a crash leaves the old file or the new one. A file replaced keeps its mode."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    kept_mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    try:
        # a new file gets 0o666 less the umask, like any file a program creates; a file replaced keeps its mode
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            if kept_mode is not None:
                os.fchmod(f.fileno(), kept_mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` to `path` atomically; returns the path."""
    path = check_save_path(path, checkpoint.corpus.get("path"))
    text = json.dumps(to_json(checkpoint), allow_nan=False, separators=(",", ":"))
    write_atomically(path, text.encode("utf-8"))
    return path


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckpointError(message)


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path).expanduser()
    raw = read_file_text(path, MAX_CHECKPOINT_BYTES, "checkpoint", CheckpointError)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:  # ValueError: bad JSON, or a number of thousands of digits
        raise CheckpointError(f"{path} is not a checkpoint (not valid JSON: {error})") from None
    return from_json(data, str(path))


def _settings_of(data: dict) -> dict:
    """Every setting's value as saved; a version-1 file kept them in "model" and "train". Before version 6 every
    run's examples were cut as a stream."""
    if data["version"] == 1:
        model = {k: v for k, v in dict(data["model"]).items() if k != "vocab_size"}
        return {**model, **dict(data["train"]), "split": "tail", "items": "stream"}
    if data["version"] == 2 and isinstance(data["settings"], dict):
        return {**data["settings"], "split": "tail", "items": "stream"}  # before v3 the held-out examples were the tail
    if data["version"] < 6 and isinstance(data["settings"], dict):
        return {"items": "stream", **data["settings"]}
    return data["settings"]


def _trainer_of(data: dict) -> dict:
    """The trainer's position as saved. A version-1 file kept its epoch's whole shuffled order (as an RNG
    state), which the epoch keys of version 2 cannot reproduce: such a run goes on from the start of a
    new order for its current epoch, its steps, losses and weights unchanged."""
    trainer = dict(data["trainer"])
    if data["version"] == 1:
        trainer.pop("shuffle_state", None)
        trainer.update(epoch_key=None, index=0, epoch_loss_sum=0.0)
    return trainer


def from_json(data, where: str = "checkpoint") -> Checkpoint:
    _require(isinstance(data, dict) and data.get("format") == FORMAT, f"{where} is not a charlm-tui checkpoint")
    version = data.get("version")
    _require(type(version) is int and 1 <= version <= VERSION,
             f"{where} has format version {version!r}; this charlm-tui reads versions 1 to {VERSION}")
    try:
        vocab_chars = data["vocab"]
        _require(isinstance(vocab_chars, str) and len(vocab_chars) > 0 and len(set(vocab_chars)) == len(vocab_chars),
                 f"{where}: the vocabulary must be a string of distinct characters")
        settings = _settings_of(data)
        _require(isinstance(settings, dict), f"{where}: the settings must be an object")
        try:
            config = RunConfig(**settings)
        except SettingError as error:
            raise CheckpointError(f"{where}: {error}") from None
        corpus = data.get("corpus") or {}
        _require(isinstance(corpus, dict) and all(isinstance(corpus.get(key, ""), str) for key in ("name", "fingerprint"))
                 and isinstance(corpus.get("path"), (str, type(None))) and isinstance(corpus.get("bundled", False), bool),
                 f"{where}: corpus must be an object with a name, a path or null, and a fingerprint (strings)")
        # everything is checked before the model is built: its size comes from the file
        shapes = table_shapes(len(vocab_chars), config.embed_dim, config.hidden_dim, config.context_length,
                              config.n_hidden)
        check_weights(data["weights"], shapes)
        state = TrainerState.from_json(_trainer_of(data), config.batch_size)
        if state.best_weights is not None:
            check_weights(state.best_weights, shapes)
        model = config.build_model(len(vocab_chars))
        model.load_weights(data["weights"])
        optimizer = data.get("optimizer")
        if optimizer is not None:  # its buffers fit this model and optimiser (the trainer loads them again)
            optimizer_for(model, config).load_state_dict(optimizer)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{where} is damaged or incomplete ({type(error).__name__}: {error})") from None
    run_id = data.get("run_id")
    return Checkpoint(model, Vocabulary(vocab_chars), config, state, corpus, run_id if isinstance(run_id, str) else None,
                      optimizer)
