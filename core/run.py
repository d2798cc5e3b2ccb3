"""A training run: a corpus, a model and a trainer built from one configuration, saved and resumed as one."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from core.corpora import is_bundled
from core.data import Corpus
from core.model import CharacterLM
from core.settings import RunConfig
from core.training import Trainer


class Run:
    """Everything one training run needs, built consistently."""

    def __init__(self, corpus: Corpus, config: RunConfig, model: CharacterLM, trainer: Trainer):
        self.corpus = corpus
        self.config = config
        self.model = model
        self.trainer = trainer
        self.id = uuid.uuid4().hex  # its record in the run history, written into each checkpoint it saves

    @classmethod
    def new(cls, corpus: Corpus, config: RunConfig) -> Run:
        split = config.split_of(corpus)
        model = config.build_model(len(corpus.vocab))
        return cls(corpus, config, model, Trainer(model, split.train, split.validation, config))

    @classmethod
    def resume(cls, checkpoint: Checkpoint, corpus: Corpus, config: RunConfig | None = None) -> Run:
        """Carry on from `checkpoint` on `corpus` (which must have the checkpoint's vocabulary).

        `config` may change the training settings (budget, learning rate, clipping); the settings fixed
        when the run started must stay as they were.
        """
        if corpus.vocab != checkpoint.vocab:
            raise CheckpointError(
                f"the checkpoint was trained on {checkpoint.corpus.get('name', 'another corpus')}, whose vocabulary "
                f"has {len(checkpoint.vocab)} characters; the vocabulary of {corpus.name} has {len(corpus.vocab)}, not the same: "
                "resume on the same corpus"
            )
        config = config or checkpoint.config
        fixed = checkpoint.config.differences(config, fixed_only=True)
        if fixed:
            raise CheckpointError(f"a resumed run keeps the settings it started with; these differ: {', '.join(fixed)}")
        split = config.split_of(corpus)
        state = checkpoint.state
        if checkpoint.corpus.get("fingerprint") != corpus.fingerprint:
            # A different text: the weights carry over, the position in the old text does not.
            state = replace(state, epoch=0, index=0, epoch_loss_sum=0.0, epoch_key=None)
        elif state.index >= len(split.train):
            raise CheckpointError(f"the checkpoint's position (example {state.index:,} of the epoch) is beyond "
                                  f"the {len(split.train):,} training examples of {corpus.name}: it is damaged")
        model = checkpoint.model
        run = cls(corpus, config, model, Trainer(model, split.train, split.validation, config, state, checkpoint.optimizer))
        run.id = checkpoint.run_id or run.id  # the history carries on its record, if it ended here (see RunTracker)
        return run

    @property
    def items(self) -> str:
        """"lines" or "stream": how this run cuts its text into examples, and so how its prompts are padded."""
        return self.config.items_of(self.corpus)

    @property
    def validation_note(self) -> str:
        """Why this run has no validation though its settings ask for some ("" if it has, or asks for none)."""
        return self.config.split_of(self.corpus).note

    def reconfigure(self, config: RunConfig) -> None:
        """New training settings between two stretches of training (the fixed ones must not change)."""
        self.config = self.trainer.config = config

    def to_checkpoint(self) -> Checkpoint:
        """The run as it is (between two steps: under the trainer's lock, or paused)."""
        corpus = self.corpus
        about = {"name": corpus.name, "path": corpus.source, "bundled": is_bundled(corpus),
                 "characters": len(corpus.text), "fingerprint": corpus.fingerprint,
                 "items": self.items}  # how it was cut, "auto" resolved: an export's sampler pads as training did
        return Checkpoint(self.model, corpus.vocab, self.config, self.trainer.state, about, self.id,
                          self.trainer.optimizer.state_dict())

    @classmethod
    def load(cls, path: str | Path, corpus: Corpus, config: RunConfig | None = None) -> Run:
        return cls.resume(load_checkpoint(path), corpus, config)

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint between steps (takes the trainer's lock, so it is safe while training runs)."""
        with self.trainer.lock:
            return save_checkpoint(path, self.to_checkpoint())
