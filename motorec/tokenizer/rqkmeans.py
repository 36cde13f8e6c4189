"""`RQKMeansTokenizer`: residual k-means on the standardised vectors (faiss), no neural encoder.

The baseline the RQ-VAE has to beat: codebooks live in the input space (E = D).
"""

from __future__ import annotations

import numpy as np
import torch

from motorec.tokenizer.base import Tokenizer
from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.kmeans import residual_kmeans
from motorec.tokenizer.quantizer import greedy_assign


class RQKMeansTokenizer(Tokenizer):
    """Greedy residual assignment to L k-means codebooks of K centroids each."""

    kind = "rqkmeans"

    def __init__(self, config: RQVAEConfig, codebooks: np.ndarray, mean: np.ndarray, std: np.ndarray):
        super().__init__(config, mean, std)
        self.codebooks = torch.as_tensor(codebooks, dtype=torch.float32)  # (L, K, D)

    def to(self, device: str | torch.device) -> RQKMeansTokenizer:
        super().to(device)
        self.codebooks = self.codebooks.to(self.device)
        return self

    def _encode_std(self, x: torch.Tensor) -> torch.Tensor:
        return greedy_assign(x, self.codebooks)  # (B, L)

    def _lookup(self, codes: torch.Tensor) -> torch.Tensor:
        z = torch.zeros(codes.shape[0], self.codebooks.shape[2], device=codes.device)
        for level in range(self.levels):
            z = z + self.codebooks[level][codes[:, level]]
        return z  # (B, D)

    def _decode_std(self, codes: torch.Tensor) -> torch.Tensor:
        return self._lookup(codes)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {
            "codebooks": self.codebooks.detach().cpu().contiguous(),
            "standardize.mean": torch.from_numpy(self.mean),
            "standardize.std": torch.from_numpy(self.std),
        }

    @classmethod
    def from_state(cls, config: RQVAEConfig, input_dim: int, tensors: dict[str, torch.Tensor]) -> RQKMeansTokenizer:
        books = tensors["codebooks"]
        expected = (config.levels, config.codebook_size, input_dim)
        if tuple(books.shape) != expected:
            raise RuntimeError(f"codebooks have shape {tuple(books.shape)}, config says {expected}")
        return cls(config, books.numpy(), tensors["standardize.mean"].numpy(), tensors["standardize.std"].numpy())


def fit_rqkmeans(x_std: np.ndarray, config: RQVAEConfig, mean: np.ndarray, std: np.ndarray) -> RQKMeansTokenizer:
    """Fit residual k-means on standardised vectors x_std (N, D)."""
    books = residual_kmeans(
        x_std,
        config.levels,
        config.codebook_size,
        iters=config.kmeans_iters,
        seed=config.seed,
        max_points=config.kmeans_sample,
    )
    return RQKMeansTokenizer(config, np.stack(books), mean, std)  # (L, K, D)
