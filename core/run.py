"""A training run: a corpus, a model and a trainer built from one configuration, saved and resumed as one."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from core.checkpoint import Checkpoint, CheckpointError, corpus_fingerprint, load_checkpoint, save_checkpoint
from core.data import Corpus, Split
from core.model import CharacterLM
from core.training import TrainConfig, Trainer


@dataclass(frozen=True)
class ModelConfig:
    context_length: int = 8
    embed_dim: int = 16
    hidden_dim: int = 64
    n_hidden: int = 2
    activation: str = "relu"
    engine: str = "fused"


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    validation_fraction: float = 0.1


# The course's configuration learns little in its three epochs at lr 0.01; the default is smaller,
# faster and steeper, so the loss visibly falls within a minute on the default corpus.
PRESETS: dict[str, RunConfig] = {
    "default": RunConfig(ModelConfig(8, 16, 64), TrainConfig(learning_rate=0.03, epochs=40), 0.1),
    "course": RunConfig(ModelConfig(8, 32, 128), TrainConfig(learning_rate=0.01, epochs=3), 0.0),
}


class Run:
    """Everything one training run needs, built consistently."""

    def __init__(self, corpus: Corpus, config: RunConfig, model: CharacterLM, trainer: Trainer):
        self.corpus = corpus
        self.config = config
        self.model = model
        self.trainer = trainer

    @staticmethod
    def _split(corpus: Corpus, config: RunConfig) -> Split:
        return corpus.split(config.model.context_length, config.validation_fraction)

    @classmethod
    def new(cls, corpus: Corpus, config: RunConfig) -> Run:
        split = cls._split(corpus, config)
        m = config.model
        model = CharacterLM(len(corpus.vocab), m.embed_dim, m.hidden_dim, m.context_length, n_hidden=m.n_hidden,
                            activation=m.activation, engine=m.engine, seed=config.train.seed)
        return cls(corpus, config, model, Trainer(model, split.train, split.validation, config.train))

    @classmethod
    def resume(cls, checkpoint: Checkpoint, corpus: Corpus, train: TrainConfig | None = None) -> Run:
        """Carry on from `checkpoint` on `corpus` (which must have the checkpoint's vocabulary).

        `train` may change the budget (epochs, steps) or other training settings; the position is kept.
        """
        if corpus.vocab != checkpoint.vocab:
            raise CheckpointError(
                f"the checkpoint was trained on {checkpoint.corpus.get('name', 'another corpus')}, whose vocabulary "
                f"has {len(checkpoint.vocab)} characters; {corpus.name}'s has {len(corpus.vocab)}, not the same: "
                "resume on the same corpus"
            )
        model = checkpoint.model
        m = ModelConfig(model.context_length, model.embed_dim, model.hidden_dim, model.n_hidden, model.activation, model.engine)
        config = RunConfig(m, train or checkpoint.config, checkpoint.validation_fraction)
        split = cls._split(corpus, config)
        state = checkpoint.state
        if checkpoint.corpus.get("fingerprint") != corpus_fingerprint(corpus.text):
            # A different text: the weights carry over, the position in the old text does not.
            state = replace(state, epoch=0, index=0, epoch_loss_sum=0.0, shuffle_state=None)
        return cls(corpus, config, model, Trainer(model, split.train, split.validation, config.train, state))

    def to_checkpoint(self) -> Checkpoint:
        corpus = {"name": self.corpus.name, "path": self.corpus.source, "characters": len(self.corpus.text),
                  "fingerprint": corpus_fingerprint(self.corpus.text)}
        return Checkpoint(self.model, self.corpus.vocab, self.config.train, self.trainer.state, corpus,
                          self.config.validation_fraction)

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint between steps (takes the trainer's lock, so it is safe while training runs)."""
        with self.trainer.lock:
            return save_checkpoint(path, self.to_checkpoint())

    @classmethod
    def load(cls, path: str | Path, corpus: Corpus, train: TrainConfig | None = None) -> Run:
        return cls.resume(load_checkpoint(path), corpus, train)
