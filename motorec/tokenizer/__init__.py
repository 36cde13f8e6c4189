"""Item tokenizers: the sparsity-regularised RQ-VAE and the RQ-KMeans baseline (fit / encode / decode)."""

from motorec.tokenizer.artifact import load_tokenizer, save_tokenizer, tokenizer_version
from motorec.tokenizer.base import QuantizeResult, Tokenizer
from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.fit import FitStats, fit
from motorec.tokenizer.health import CodeHealth, code_health
from motorec.tokenizer.losses import rarity_weights
from motorec.tokenizer.suffix import assign_suffixes

__all__ = [
    "CodeHealth",
    "FitStats",
    "QuantizeResult",
    "RQVAEConfig",
    "Tokenizer",
    "assign_suffixes",
    "code_health",
    "fit",
    "load_tokenizer",
    "rarity_weights",
    "save_tokenizer",
    "tokenizer_version",
]
