"""Joint fine-tuning of RQ-VAE tokenizers with the recommender (METHOD.md §5, `config.joint`).

At every step each modality's RQ-VAE re-encodes the items (train mode): the recommender sees the new
codes and the straight-through z_q, so its loss reaches the encoder, and the tokenizer loss
L_tok = sum_m [ mean_i w_i (||f_i - D(z_q)||^2 + beta ||z_e - sg(z_q)||^2 + cb_i) + gamma L_sparse ]
keeps the codes faithful to the content. w_i are the ARA weights from training degrees
(`config.ara`, else 1); L_sparse is the sparse usage prior (`config.sparsity`, else 0). The given
tokenizers are copied first: the originals are never changed, and the fine-tuned copies are a new
tokenizer version for the caller to save.

Glossary: N items, N_m items with modality m, D input dim, E latent dim, L levels.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from motorec.errors import InputError
from motorec.recommender.config import RecommenderConfig
from motorec.recommender.inputs import ModalityInputs
from motorec.tokenizer import rarity_weights
from motorec.tokenizer.losses import sparse_usage_kl
from motorec.tokenizer.neural import RQVAETokenizer


class JointTokenizers:
    """RQ-VAE tokenizers (one per modality) and the item vectors they encode.

    Args:
        tokenizers: {modality: fitted RQ-VAE tokenizer}.
        vectors: {modality: (N, D) raw item vectors}; rows of items lacking the modality are ignored.
        masks: {modality: (N,) bool} or None for "every item has it".
    """

    def __init__(self, tokenizers: dict, vectors: dict[str, np.ndarray], masks: dict[str, np.ndarray] | None = None):
        for name, tok in tokenizers.items():
            if not isinstance(tok, RQVAETokenizer):
                raise InputError(f"joint fine-tuning needs an RQ-VAE tokenizer for {name!r}, got {tok.kind!r}")
        if set(tokenizers) != set(vectors):
            raise InputError(f"tokenizers {sorted(tokenizers)} and vectors {sorted(vectors)} name different modalities")
        self.tokenizers = {m: copy.deepcopy(t) for m, t in tokenizers.items()}
        n = {len(v) for v in vectors.values()}
        if len(n) != 1:
            raise InputError("every modality's vectors must have the same number of rows N")
        self.n_items = n.pop()
        masks = masks or {}
        self.masks = {
            m: np.ones(self.n_items, bool) if masks.get(m) is None else np.asarray(masks[m], bool) for m in tokenizers
        }
        self.vectors = {m: np.asarray(v, dtype=np.float32) for m, v in vectors.items()}
        self._x: dict[str, torch.Tensor] = {}
        self._w: dict[str, torch.Tensor] = {}
        self._pending: list = []
        self._sparsity, self._step = True, 0
        self._gen = torch.Generator().manual_seed(0)

    def prepare(self, degrees: np.ndarray, config: RecommenderConfig, device: torch.device) -> None:
        """Standardise the inputs once and compute the ARA weights from training degrees (N,)."""
        self._sparsity = config.sparsity
        self._gen.manual_seed(config.seed)
        for name, tok in self.tokenizers.items():
            tok.to(device)
            rows = self.masks[name]
            self._x[name] = torch.from_numpy(tok.standardize(self.vectors[name][rows])).to(device)  # (N_m, D)
            mode = "none" if not config.ara else ("amplify" if tok.config.rarity == "none" else tok.config.rarity)
            w = rarity_weights(np.asarray(degrees)[rows], int(rows.sum()), mode=mode, tau=tok.config.tau)
            self._w[name] = torch.from_numpy(w).to(device)  # (N_m,)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for tok in self.tokenizers.values() for p in tok.module.parameters() if p.requires_grad]

    def _inputs(self, name: str, codes: torch.Tensor, z_q: torch.Tensor) -> ModalityInputs:
        """Scatter the N_m encoded rows back into N rows."""
        tok, rows = self.tokenizers[name], torch.from_numpy(self.masks[name]).to(codes.device)
        full_codes = torch.zeros(self.n_items, codes.shape[1], dtype=torch.int64, device=codes.device)
        full_zq = z_q.new_zeros(self.n_items, z_q.shape[1])
        full_codes[rows] = codes
        full_zq = full_zq.index_put((rows.nonzero()[:, 0],), z_q)
        return ModalityInputs(rows, full_codes, full_zq, None, tok.codebook_size)

    def step_content(self) -> tuple[dict[str, ModalityInputs], torch.Tensor]:
        """Train-mode pass: content with straight-through z_q, and the summed tokenizer loss ()."""
        content, total = {}, None
        self._pending = []
        for name, tok in self.tokenizers.items():
            module, cfg = tok.module.train(), tok.config
            out = module(self._x[name])
            per_item = out.recon_loss + cfg.beta * out.commit_loss + out.quantizer.codebook_loss  # (N_m,)
            loss = (per_item * self._w[name]).mean()
            if self._sparsity and cfg.gamma > 0:
                loss = loss + cfg.gamma * sparse_usage_kl(out.quantizer.usage, cfg.prior)
            total = loss if total is None else total + loss
            content[name] = self._inputs(name, out.codes, out.z_q)
            self._pending.append((tok, out.quantizer))
        return content, total

    @torch.no_grad()
    def after_step(self) -> None:
        """Codebook maintenance after the optimiser step: EMA update and dead-code reset."""
        self._step += 1
        for tok, q in self._pending:
            if tok.config.codebook_update == "ema":
                tok.module.quantizer.ema_update(q)
            tok.module.quantizer.reset_dead_codes(q, self._step, tok.config.dead_code_window, self._gen)
        self._pending = []

    @torch.no_grad()
    def content(self) -> dict[str, ModalityInputs]:
        """Eval-mode codes and z_q of every item (what scoring uses)."""
        out = {}
        for name, tok in self.tokenizers.items():
            module = tok.module.eval()
            z_e = module.encoder(self._x[name])
            codes = module.quantizer.assign(z_e)  # (N_m, L)
            out[name] = self._inputs(name, codes, module.quantizer.lookup(codes))
        return out

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {m: copy.deepcopy(t.module.state_dict()) for m, t in self.tokenizers.items()}

    def load_state(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        for m, sd in state.items():
            self.tokenizers[m].module.load_state_dict(sd)
            self.tokenizers[m].module.eval()
