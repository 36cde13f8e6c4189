"""The tokenizer interface shared by the RQ-VAE and the RQ-KMeans baseline: fit / encode / decode.

Glossary: N items, D input dim, E latent dim, L levels, K codebook size.
"""

from __future__ import annotations

import abc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from motorec.errors import InputError
from motorec.tokenizer.config import RQVAEConfig

ENCODE_CHUNK = 1024  # rows per encode/decode pass (chunk sizes 512-8192 measured: 512-1024 fastest)


def check_vectors(x: np.ndarray, *, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    """Validate an (N, D) float matrix; returns it as contiguous float32.

    Raises InputError for a non-2-D array, empty input, a wrong dimension, or rows with NaN/inf
    (naming the first offending row indices).
    """
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 2-D array (N, D), got shape {arr.shape}")
    n, d = arr.shape
    if n == 0:
        raise InputError(f"{what} is empty: nothing to tokenize")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{what} must be numeric, got dtype {arr.dtype}")
    if dim is not None and d != dim:
        raise InputError(f"{what} have dimension {d}, but the tokenizer was fitted on dimension {dim}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    # a row's float64 sum is non-finite exactly when the row holds NaN or inf (float32 entries cannot
    # overflow it): one pass without an (N, D) mask
    bad = ~np.isfinite(arr.sum(axis=1, dtype=np.float64))
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        raise InputError(f"{what} contain NaN or inf in {len(rows)} row(s): {shown}")
    return arr


def check_codes(codes: np.ndarray, levels: int, codebook_size: int) -> np.ndarray:
    """Validate an (N, L) code matrix with 0 <= code < K; returns int64."""
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.shape[1] != levels:
        raise InputError(f"codes must have shape (N, {levels}), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"codes must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= codebook_size):
        raise InputError(f"codes must lie in [0, {codebook_size}), got range [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


@dataclass
class QuantizeResult:
    """Eval-mode quantisation of a batch of items."""

    codes: np.ndarray  # (N, L) int64
    z_q: np.ndarray  # (N, E) quantised latent (E = D for RQ-KMeans)
    recon: np.ndarray  # (N, D) reconstruction in the input space


class Tokenizer(abc.ABC):
    """Maps item vectors (N, D) to codes (N, L) and back. Subclasses hold the learned state.

    Inputs are standardised with the per-dimension mean and std of the fitting data (saved with the
    artifact); `decode` returns vectors in the original input space.
    """

    kind: str

    def __init__(self, config: RQVAEConfig, mean: np.ndarray, std: np.ndarray):
        self.config = config
        self.mean = np.asarray(mean, dtype=np.float32)  # (D,)
        self.std = np.asarray(std, dtype=np.float32)  # (D,)
        self.device = torch.device("cpu")

    @property
    def input_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def levels(self) -> int:
        return self.config.levels

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / std; x (N, D)."""
        return (x - self.mean) / self.std

    def to(self, device: str | torch.device) -> Tokenizer:
        """Move the tokenizer's tensors to `device` (encode/decode then run there)."""
        self.device = torch.device(device)
        return self

    # -- the public interface -------------------------------------------------------------------------
    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of items; x (N, D) float -> (N, L) int64, always L columns."""
        return self._encode_rows(check_vectors(x, dim=self.input_dim), standardized=False)

    def encode_standardized(self, x_std: np.ndarray) -> np.ndarray:
        """Codes of vectors already standardised as `standardize` does; (N, D) -> (N, L) int64.

        Equal to `encode` of the raw vectors: the same float32 (x - mean) / std, done by the caller.
        """
        return self._encode_rows(check_vectors(x_std, dim=self.input_dim), standardized=True)

    def _encode_rows(self, x: np.ndarray, standardized: bool) -> np.ndarray:
        n = x.shape[0]
        out = np.empty((n, self.levels), dtype=np.int64)
        mean = torch.from_numpy(self.mean).to(self.device)
        std = torch.from_numpy(self.std).to(self.device)

        def work(start: int) -> None:
            with torch.inference_mode():  # thread-local, so entered by every worker
                chunk = torch.from_numpy(x[start : start + ENCODE_CHUNK]).to(self.device)
                if not standardized:
                    chunk = (chunk - mean).div_(std)  # == standardize(), one copy instead of two
                out[start : start + len(chunk)] = self._encode_std(chunk).cpu().numpy()

        starts = range(0, n, ENCODE_CHUNK)
        threads = torch.get_num_threads()
        if self.device.type != "cpu" or threads == 1 or len(starts) == 1:
            for start in starts:
                work(start)
            return out
        # On CPU, chunks in parallel with single-threaded ops: the chunk's ops are too small for torch's
        # intra-op threads to pay off, and a shared machine stalls their per-op barriers
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(work, starts))
        finally:
            torch.set_num_threads(threads)
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstruction from codes; (N, L) -> (N, D) float32 in the input space."""
        out = self.decode_standardized(codes)
        out *= self.std
        out += self.mean
        return out

    def decode_standardized(self, codes: np.ndarray) -> np.ndarray:
        """Reconstruction from codes in the standardised space (as `standardize` maps inputs); (N, L) -> (N, D)."""
        codes = check_codes(codes, self.levels, self.codebook_size)
        out = np.empty((codes.shape[0], self.input_dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, codes.shape[0], ENCODE_CHUNK):
                chunk = torch.from_numpy(codes[start : start + ENCODE_CHUNK]).to(self.device)
                out[start : start + len(chunk)] = self._decode_std(chunk).cpu().numpy()
        return out

    def quantize(self, x: np.ndarray) -> QuantizeResult:
        """Codes, quantised latent and reconstruction of x (N, D) in one eval-mode pass."""
        codes = self.encode(x)
        with torch.inference_mode():
            z_q = self._lookup(torch.from_numpy(codes).to(self.device)).cpu().numpy()
        return QuantizeResult(codes=codes, z_q=z_q, recon=self.decode(codes))

    # -- what subclasses implement --------------------------------------------------------------------
    @abc.abstractmethod
    def _encode_std(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised x (B, D) -> codes (B, L)."""

    @abc.abstractmethod
    def _decode_std(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, L) -> standardised reconstruction (B, D)."""

    @abc.abstractmethod
    def _lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, L) -> quantised latent (B, E)."""

    @abc.abstractmethod
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every learned tensor, for safetensors (standardisation included)."""

    @classmethod
    @abc.abstractmethod
    def from_state(cls, config: RQVAEConfig, input_dim: int, tensors: dict[str, torch.Tensor]) -> Tokenizer:
        """Rebuild from `state_tensors()`; raises KeyError/RuntimeError on a mismatch."""
