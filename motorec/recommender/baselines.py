"""Two simple baselines behind the scorer protocol `score(user_idx (B,)) -> (B, N)`.

- `Popularity`: an item's score is its number of training interactions (the same for every user).
- `ContentKNN`: a user's profile is the mean of the L2-normalised content vectors of their training
  items; an item's score is the cosine between profile and item vector. Items without content get
  -inf (never ranked); users without training items get 0 for every item with content.

Glossary: U users, N items, D feature width, B users in a chunk.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from motorec.errors import InputError
from motorec.recommender.graph import item_degrees


class Popularity:
    """Scores = training interaction counts, (N,) broadcast to every user."""

    def __init__(self, train: tuple[np.ndarray, np.ndarray], n_items: int):
        self.counts = torch.as_tensor(item_degrees(train[0], train[1], n_items), dtype=torch.float32)

    def score(self, user_idx: np.ndarray) -> torch.Tensor:
        return self.counts[None, :].expand(len(user_idx), -1).clone()  # (B, N)


class ContentKNN:
    """Cosine between the mean of a user's training item vectors and every item vector.

    Args:
        train: (user_idx, item_idx) training interactions.
        n_users: U.
        vectors: (N, D) item content vectors.
        mask: (N,) bool, False for items without content; None means all have it.
    """

    def __init__(
        self,
        train: tuple[np.ndarray, np.ndarray],
        n_users: int,
        vectors: np.ndarray,
        mask: np.ndarray | None = None,
    ):
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        n_items = x.shape[0]
        if x.ndim != 2:
            raise InputError(f"vectors must be (N, D), got {tuple(x.shape)}")
        self.mask = torch.ones(n_items, dtype=torch.bool) if mask is None else torch.as_tensor(mask, dtype=torch.bool)
        x = F.normalize(x, dim=1) * self.mask[:, None]  # (N, D)
        u = torch.from_numpy(np.array(train[0], dtype=np.int64))  # a copy: the input may be read-only
        i = torch.from_numpy(np.array(train[1], dtype=np.int64))
        keep = self.mask[i]
        u, i = u[keep], i[keep]
        profile = torch.zeros(n_users, x.shape[1]).index_add_(0, u, x[i])  # (U, D) sum over training items
        self.profiles = F.normalize(profile, dim=1)  # cosine: the mean's direction
        self.items = x

    def score(self, user_idx: np.ndarray) -> torch.Tensor:
        u = torch.as_tensor(np.asarray(user_idx, dtype=np.int64))
        scores = self.profiles[u] @ self.items.T  # (B, N)
        return scores.masked_fill(~self.mask[None, :], float("-inf"))
