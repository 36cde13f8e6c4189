"""Per-modality item content as the recommender consumes it: codes, quantised latent, mask, features.

Items are rows 0..N-1 (the caller maps item_id to row). A modality an item lacks has mask False; its
codes, z_q and features on that row are ignored (they may hold anything, e.g. -1 codes).

Glossary: N items, L levels, K codebook size, E z_q width, D feature width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from motorec.errors import InputError


@dataclass(frozen=True)
class ModalitySpec:
    """The sizes a modality's parameters are built from (saved in checkpoints).

    Attributes:
        levels: L (0 when the modality comes without codes).
        codebook_size: K (0 without codes).
        zq_dim: E (0 without z_q).
        feat_dim: D (0 without continuous features).
    """

    levels: int = 0
    codebook_size: int = 0
    zq_dim: int = 0
    feat_dim: int = 0


@dataclass
class ModalityInputs:
    """One modality's content for N items, as tensors.

    Attributes:
        mask: (N,) bool, False where the item lacks the modality.
        codes: (N, L) int64 in [0, K) or None.
        z_q: (N, E) float32 quantised latent or None.
        feats: (N, D) float32 continuous features (the "continuous" ablation) or None.
        codebook_size: K (needed to size the code tables; inferred from codes when 0).
    """

    mask: torch.Tensor
    codes: torch.Tensor | None = None
    z_q: torch.Tensor | None = None
    feats: torch.Tensor | None = None
    codebook_size: int = 0

    @classmethod
    def from_numpy(
        cls,
        mask: np.ndarray | None = None,
        codes: np.ndarray | None = None,
        z_q: np.ndarray | None = None,
        feats: np.ndarray | None = None,
        codebook_size: int = 0,
    ) -> ModalityInputs:
        """Build from numpy arrays; `mask=None` means every item has the modality."""
        arrays = [a for a in (codes, z_q, feats) if a is not None]
        if not arrays:
            raise InputError("a modality needs codes, z_q or feats")
        n = len(arrays[0])
        m = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        return cls(
            mask=torch.from_numpy(m.copy()),
            # copies, never views of the caller's arrays: the encoder keeps results computed from these
            # tensors while their torch version counters say they are unchanged (model._Memo), and a
            # later write into a shared numpy array would not move them
            codes=None if codes is None else torch.tensor(np.asarray(codes, dtype=np.int64)),
            z_q=None if z_q is None else torch.tensor(np.asarray(z_q, dtype=np.float32)),
            feats=None if feats is None else torch.tensor(np.asarray(feats, dtype=np.float32)),
            codebook_size=codebook_size,
        )

    @property
    def n_items(self) -> int:
        return int(self.mask.shape[0])

    def spec(self) -> ModalitySpec:
        """Return the parameter sizes this content implies; K comes from `codebook_size` or max code + 1."""
        levels, k = 0, self.codebook_size
        if self.codes is not None:
            levels = int(self.codes.shape[1])
            if k == 0:
                valid = self.codes[self.mask]
                k = int(valid.max()) + 1 if valid.numel() else 1
        return ModalitySpec(
            levels=levels,
            codebook_size=k if self.codes is not None else 0,
            zq_dim=0 if self.z_q is None else int(self.z_q.shape[1]),
            feat_dim=0 if self.feats is None else int(self.feats.shape[1]),
        )

    def rows(self, index: torch.Tensor) -> ModalityInputs:
        """Return the same content for a subset or reordering of items; index (N',) int64."""
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return ModalityInputs(self.mask[index], pick(self.codes), pick(self.z_q), pick(self.feats), self.codebook_size)

    def to(self, device: str | torch.device) -> ModalityInputs:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return ModalityInputs(
            self.mask.to(device), move(self.codes), move(self.z_q), move(self.feats), self.codebook_size
        )


def check_content(
    content: dict[str, ModalityInputs], n_items: int, specs: dict[str, ModalitySpec] | None = None
) -> None:
    """Validate shapes, dtypes and code ranges of every modality against N (and saved specs).

    Raises:
        InputError: naming the modality and what is wrong.
    """
    for name, mod in content.items():
        if mod.mask.shape != (n_items,) or mod.mask.dtype != torch.bool:
            raise InputError(f"modality {name!r}: mask must be bool of shape ({n_items},), got {tuple(mod.mask.shape)}")
        for field in ("codes", "z_q", "feats"):
            t = getattr(mod, field)
            if t is not None and (t.ndim != 2 or t.shape[0] != n_items):
                raise InputError(f"modality {name!r}: {field} must be ({n_items}, *), got {tuple(t.shape)}")
        spec = mod.spec() if specs is None else specs.get(name)
        if spec is None:
            raise InputError(f"modality {name!r} was not seen in training; known: {sorted(specs or {})}")
        if mod.codes is not None:
            valid = mod.codes[mod.mask]
            if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= spec.codebook_size):
                raise InputError(f"modality {name!r}: codes must lie in [0, {spec.codebook_size})")
            if mod.codes.shape[1] != spec.levels:
                raise InputError(f"modality {name!r}: expected {spec.levels} code levels, got {mod.codes.shape[1]}")
        for field, dim in (("z_q", spec.zq_dim), ("feats", spec.feat_dim)):
            t = getattr(mod, field)
            if dim and (t is None or t.shape[1] != dim):
                raise InputError(f"modality {name!r}: expected {field} of width {dim}")
