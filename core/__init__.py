"""charlm-tui's core: a scalar-autograd character-level language model in pure Python.

The course's API is here under its own names; nothing in `core` imports a UI library.
"""

from core.data import Corpus, CorpusError, Vocabulary, build_vocab, create_examples, decode, encode
from core.engine import Value
from core.model import CharacterLM, cross_entropy_loss, parameter_table, relu, softmax
from core.optim import SGD
from core.sampling import FrozenModel, Sampler, generate, prepare_prompt
from core.settings import RunConfig
from core.training import Trainer, train

__all__ = [
    "CharacterLM", "Corpus", "CorpusError", "FrozenModel", "SGD", "Sampler", "RunConfig", "Trainer", "Value",
    "Vocabulary", "build_vocab", "create_examples", "cross_entropy_loss", "decode", "encode", "generate",
    "parameter_table", "prepare_prompt", "relu", "softmax", "train",
]
