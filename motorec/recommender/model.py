"""The hierarchical multi-source graph encoder of MoToRec (METHOD.md §4).

Channels over one user-item graph:
- one content channel per modality m, whose item nodes start from the item's content vector
  c_i^m = W_m z_q,i = sum_l W_m C_m,l[code_il] (code embeddings tied to the codebooks C; free tables
  T_m[l, code] are added with `code_tables`), or W_m f_i for the "continuous" ablation, and whose user
  nodes start from zero or from a learnable per-modality user vector theta_u^m (see below);
- a collaborative channel of learnable ID embeddings (items without training edges have no ID).

Users take the LightGCN layer mean of every channel. By default (`propagate_user_content` off) the
content channels propagate only the items' content, and the user's own free vector theta_u (one, d
wide) is added after the fusion: a free preference, as in VBPR, beside the content of the items the
user reached; with it on, each channel starts its user nodes from a per-modality theta_u^m.

Items take the layer mean of the ID channel, but their content part is the layer-0 vector c_i^m for
every item, warm or cold: an isolated node's layer mean is c_i / (layers + 1), so scoring warm items
by a layer mean and cold ones by a scaled copy would put them on different scales (METHOD.md §4
warning). So a content channel needs only its user rows, and `forward` computes just those: block
products over R_hat and R_hat^T (`graph.user_rows_of_layers`), half of a whole-graph product each.
Propagation is linear, so z_q is propagated at its own width and W_m applied after: with the
tokenizer frozen z_q is fixed, and its propagation is computed once and kept (`_Memo`); under joint
fine-tuning a z_q at most 2 d wide is still propagated before W_m (a backward product to z_q), a
wider one after W_m as d-wide vectors, as are free code tables. The result equals the whole-graph
layer mean (tested). With the defaults a content channel costs no graph product per step.

Content channels are fused by alpha * W[c^1; ..; c^M] + (1 - alpha) * sum_m a_m c^m, the ID part joins
through a gated residual e = h + g x_id with g = sigmoid(W_g [h; x_id]) (or e = [h; g x_id], `id_join`), and
score(u, i) = e_u . e_i + b_i with b_i a content bias plus, for an item scored without ID part
(strict cold, or ID-dropped in training), a learned no-ID offset.

Glossary: U users, N items, M modalities, d embedding width, L levels, K codebook size, E z_q width,
D feature width.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from motorec.recommender.config import RecommenderConfig
from motorec.recommender.graph import bipartite_blocks, layer_mean, user_rows_of_layers
from motorec.recommender.inputs import ModalityInputs, ModalitySpec


def _plus(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """The sum of a and b, either of which may be absent (None)."""
    return b if a is None else (a if b is None else a + b)


class _Memo:
    """One value computed from some tensors, kept while the same tensors come back unchanged.

    Tensors are matched by identity (weak references: the keys are not kept alive, the value is) and by
    their version counter, which every in-place change made through torch bumps; a write that bypasses
    torch (into a numpy array sharing the memory, or through `.data`) is not seen, which is why
    `ModalityInputs.from_numpy` copies. Under `torch.inference_mode`, or for inference tensors, which
    keep no version counter, the value is computed and not kept: a kept inference tensor could not be
    saved for a later backward.
    """

    def __init__(self):
        self._entry: tuple[list, object] | None = None  # (key, value), read and written as one

    def get(self, tensors: list[torch.Tensor], compute):
        if torch.is_inference_mode_enabled() or any(t.is_inference() for t in tensors):
            return compute()
        entry = self._entry
        if entry is not None and len(entry[0]) == len(tensors):
            key, value = entry
            if all(ref() is t and version == t._version for (ref, version), t in zip(key, tensors, strict=True)):
                return value
        value = compute()
        self._entry = ([(weakref.ref(t), t._version) for t in tensors], value)
        return value


@dataclass
class Encoded:
    """Everything a training step or a scorer needs from one encoder pass.

    The final vectors are built on demand from their two parts, the content view h and the gated ID
    part g * x: e = h + g x (join "sum"), e = [h; g x] ("concat"), or e = x for the ID-only model ("id").
    A training step scores from the parts directly and never builds the (B, 2 d) concatenation.
    """

    user_content: torch.Tensor  # (U, d) fused content view h_u
    user_gated: torch.Tensor  # (U, d) gated ID part g_u * x_u (the ID view itself for "id")
    item_content: torch.Tensor  # (N, d) fused content view h_i
    item_gated: torch.Tensor  # (N, d) gated ID part, zero for items scored without ID
    content_bias: torch.Tensor  # (N,) the content part of b_i (without the no-ID offset)
    absent: torch.Tensor  # (N,) float, 1 where the item is scored without its ID part (no gradient)
    no_id_bias: torch.Tensor  # () the no-ID offset
    user_id: torch.Tensor  # (U, d) ID view (layer mean)
    item_id: torch.Tensor  # (N, d) ID view (layer mean, zero for items without ID)
    join: str  # "sum", "concat" or "id"

    @functools.cached_property
    def bias(self) -> torch.Tensor:
        """(N,) item bias b_i: the content bias, plus the no-ID offset where the ID part is absent."""
        return self.content_bias + self.no_id_bias * self.absent

    def _final(self, content: torch.Tensor, gated: torch.Tensor) -> torch.Tensor:
        if self.join == "id":
            return gated
        return content + gated if self.join == "sum" else torch.cat([content, gated], dim=1)

    @functools.cached_property
    def users(self) -> torch.Tensor:
        """(U, d or 2 d) final user vectors e_u."""
        return self._final(self.user_content, self.user_gated)

    @functools.cached_property
    def items(self) -> torch.Tensor:
        """(N, d or 2 d) final item vectors e_i; score(u, i) = e_u . e_i + b_i."""
        return self._final(self.item_content, self.item_gated)


class HybridFusion(nn.Module):
    """alpha * concat-projection + (1 - alpha) * attention over M sources, ignoring masked sources.

    Shapes: x (B, M, d), mask (B, M) bool or None (every source present) -> (B, d).
    """

    def __init__(self, n_sources: int, dim: int, alpha: float):
        super().__init__()
        self.alpha = alpha
        self.concat = nn.Linear(n_sources * dim, dim, bias=False)
        with torch.no_grad():  # start as the mean of the sources
            self.concat.weight.copy_(torch.eye(dim).repeat(1, n_sources) / n_sources)
        self.key = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, m, d = x.shape
        if mask is not None:
            x = x * mask[..., None]
        if m == 1:
            return self.fold(x[:, 0])
        if mask is None:
            mask = torch.ones(b, m, dtype=torch.bool, device=x.device)
        out = x.new_zeros(b, d)
        if self.alpha > 0:
            out = out + self.alpha * self.concat(x.reshape(b, m * d))
        if self.alpha < 1:
            logits = torch.tanh(self.key(x)) @ self.query  # (B, M)
            logits = logits.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # rows with no source give 0
            out = out + (1 - self.alpha) * (weights[..., None] * x).sum(1)
        return out

    def fold(self, v: torch.Tensor) -> torch.Tensor:
        """The fusion of one source, which is linear: v -> v F with F = alpha W^T + (1 - alpha) I (d, d).

        With one source the attention weight is 1 wherever the source is present (and v is 0 where not).
        Computed as one product, alpha v W^T + (1 - alpha) v, without building F. Linear in v, so a map M
        into the source's space folds as M -> M F (`fold(M)`). Shapes: v (B, d) -> (B, d).
        """
        w = self.concat.weight  # (d, d) for one source
        return torch.addmm(v, v, w.T, beta=1 - self.alpha, alpha=self.alpha)


class GatedResidual(nn.Module):
    """The ID part x joins the content part h through a learned gate g = sigmoid(W [h; x] + b).

    width "vector": one gate per dimension (W is d x 2d); "scalar": one per node (W is 1 x 2d).
    mode "sum": e = h + g * x (one shared space); mode "concat": e = [h; g * x], so that
    e_u . e_i = h_u . h_i + (g_u x_u) . (g_i x_i): content and ID interact only with their own kind.

    Shapes: h (B, d), x (B, d) -> (B, d) for "sum", (B, 2 d) for "concat".
    """

    def __init__(self, dim: int, mode: str = "sum", width: str = "vector"):
        super().__init__()
        self.mode = mode
        self.gate = nn.Linear(2 * dim, dim if width == "vector" else 1)  # one gate per dimension, or per node
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def gated(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The gated ID part g * x: (B, d), (B, d) -> (B, d).

        W [h; x] is computed as W_h h + W_x x, without the (B, 2 d) concatenation, and a scalar gate's
        as two chained matrix-vector products with the bias as their start: on CPU a (B, 1) x (1, 2 d)
        gradient product took longer than the whole gate does now.
        """
        w, d = self.gate.weight, h.shape[1]  # (d or 1, 2 d)
        if w.shape[0] == 1:
            logit = torch.addmv(torch.addmv(self.gate.bias, x, w[0, d:]), h, w[0, :d])[:, None]  # (B, 1)
        else:
            logit = F.linear(h, w[:, :d]) + F.linear(x, w[:, d:], self.gate.bias)  # (B, d)
        return torch.sigmoid(logit) * x

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        gated = self.gated(h, x)
        return h + gated if self.mode == "sum" else torch.cat([h, gated], dim=1)


class ContentEncoder(nn.Module):
    """c_i = sum_l T[l, code_il] + W z_q (codes) or W f (continuous), zero where the item lacks it.

    The free tables T are optional (`tables`, `RecommenderConfig.code_tables`): without them c_i = W z_q,
    which is still a sum over the item's codes, z_q = sum_l C_l[code_il] with C_l the tokenizer's codebooks.

    z_q and features enter L2-normalised per item: a tokenizer's latent scale is arbitrary, and a
    per-row normalisation scores an item the same whichever other items are encoded beside it.
    The item bias b_i = sum_l t[l, code_il] + w . z_q (or w . f) is built from the same inputs.
    """

    def __init__(self, spec: ModalitySpec, dim: int, kind: str, use_zq: bool, with_bias: bool, tables: bool):
        super().__init__()
        self.spec, self.kind = spec, kind
        self.use_codes = kind == "codes" and tables and spec.levels > 0
        self.use_zq = kind == "codes" and use_zq and spec.zq_dim > 0
        if kind == "continuous" and spec.feat_dim == 0:
            raise ValueError("content='continuous' needs feats for every modality")
        if kind == "codes" and not (self.use_codes or self.use_zq):
            raise ValueError(
                "content='codes' needs z_q (with use_zq_projection) or codes with code_tables=True; "
                f"this modality has {spec.levels} code levels and a z_q width of {spec.zq_dim}"
            )
        self.with_bias = with_bias
        self._input_memo = _Memo()  # see `parts`
        n_codes = spec.levels * spec.codebook_size
        if self.use_codes:
            self.codes = nn.Embedding(n_codes, dim)
            nn.init.normal_(self.codes.weight, std=0.1 / spec.levels**0.5)
            self.register_buffer("offsets", torch.arange(spec.levels) * spec.codebook_size, persistent=False)
            if with_bias:
                self.code_bias = nn.Embedding(n_codes, 1)
                nn.init.zeros_(self.code_bias.weight)
        in_dim = spec.zq_dim if kind == "codes" else spec.feat_dim
        if self.use_zq or kind == "continuous":
            self.proj = nn.Linear(in_dim, dim, bias=False)
            nn.init.normal_(self.proj.weight, std=0.1)
            if with_bias:
                self.vec_bias = nn.Linear(in_dim, 1, bias=False)
                nn.init.zeros_(self.vec_bias.weight)

    def parts(self, mod: ModalityInputs) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """The content vector's two parts and the bias, zero on items that lack the modality.

        Returns x (N, E or D), the normalised input that `proj` maps linearly (None without z_q
        projection), t (N, d), the summed code table rows (None without tables), and b (N,).
        c_i = proj(x_i) + t_i.
        """
        def keep() -> torch.Tensor:  # (N, 1) 1 where the item has the modality
            return mod.mask.to(torch.float32)[:, None]

        x = table = None
        bias = 0.0
        if self.use_codes:
            idx = mod.codes.clamp(0, self.spec.codebook_size - 1) + self.offsets  # (N, L)
            present = keep()  # (N, 1)
            table = self.codes(idx).sum(1) * present  # (N, d)
            if self.with_bias:  # the code biases of an item without the modality are masked here
                bias = self.code_bias(idx).sum((1, 2)) * present[:, 0]  # (N,)
        if self.use_zq or self.kind == "continuous":
            raw = mod.z_q if self.kind == "codes" else mod.feats
            if raw.requires_grad:  # joint fine-tuning
                x = F.normalize(raw, dim=1) * keep()  # (N, E or D)
            else:  # a fixed input, normalised once while the same tensors come back
                x = self._input_memo.get([raw, mod.mask], lambda: F.normalize(raw, dim=1) * keep())
            if self.with_bias:  # x is zero without the modality, and so is this term
                # a matrix-vector product: an (N, 1) output's gradient product is slow on CPU
                bias = bias + torch.mv(x, self.vec_bias.weight[0])
        if not self.with_bias:
            bias = mod.mask.new_zeros(mod.mask.shape[0], dtype=torch.float32)
        return x, table, bias

    def forward(self, mod: ModalityInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Content vectors (N, d) and biases (N,) of one modality."""
        x, table, bias = self.parts(mod)
        return _plus(None if x is None else self.proj(x), table), bias


class MultiSourceGNN(nn.Module):
    """Content channels per modality plus an ID channel, fused and gated (see the module docstring).

    Args:
        n_users: U.
        n_items: N, the items of the training index (warm and cold); the ID table has N rows.
        specs: parameter sizes per modality (ignored when `config.content == "none"`).
        config: the recommender configuration.
    """

    def __init__(self, n_users: int, n_items: int, specs: dict[str, ModalitySpec], config: RecommenderConfig):
        super().__init__()
        d = config.embedding_dim
        self.n_users, self.n_items, self.config = n_users, n_items, config
        self._block_memo, self._input_memo = _Memo(), _Memo()  # see `_blocks` and `_content_channels`
        self.modalities = [] if config.content == "none" else sorted(specs)
        self.specs = {m: specs[m] for m in self.modalities}
        self.user_id = nn.Embedding(n_users, d)
        self.item_id = nn.Embedding(n_items, d)
        nn.init.normal_(self.user_id.weight, std=0.1)
        nn.init.normal_(self.item_id.weight, std=0.1)
        if self.modalities:
            m = len(self.modalities)
            # theta_u: one per modality in its channel when propagated, else one in the fused content space
            self.user_content = nn.Embedding(n_users, (m if config.propagate_user_content else 1) * d)
            nn.init.normal_(self.user_content.weight, std=0.1)
            self.encoders = nn.ModuleDict(
                {
                    name: ContentEncoder(
                        self.specs[name],
                        d,
                        config.content,
                        config.use_zq_projection,
                        config.content_bias,
                        config.code_tables,
                    )
                    for name in self.modalities
                }
            )
            self.fusion = HybridFusion(m, d, config.fusion_alpha)
            self.user_gate = GatedResidual(d, config.id_join, config.id_gate)
            self.item_gate = GatedResidual(d, config.id_join, config.id_gate)
            # added to the score of an item without an ID part (strict cold, or ID-dropped in training):
            # stands in for the ID part's average contribution, so cold and warm items share one scale
            self.no_id_bias = nn.Parameter(torch.zeros(()), requires_grad=config.no_id_bias)

    @property
    def has_content(self) -> bool:
        return bool(self.modalities)

    def item_content(self, content: dict[str, ModalityInputs]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-modality content vectors, their mask and the summed bias for any set of N' items.

        Shapes: -> (N', M, d), (N', M) bool, (N',).
        """
        vecs, masks, bias = [], [], 0.0
        for name in self.modalities:
            v, b = self.encoders[name](content[name])
            vecs.append(v)
            masks.append(content[name].mask)
            bias = bias + b
        return torch.stack(vecs, 1), torch.stack(masks, 1), bias

    def encode_items(
        self, content: dict[str, ModalityInputs], id_part: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Compute final vectors of any N' items (also items added after training) from content and ID.

        Args:
            content: per-modality content of the N' items.
            id_part: (N', d) propagated ID vectors, zero for items without an ID.

        Returns:
            e_i (N', d or 2 d), b_i (N',), and the fused content view h_i (N', d).
        """
        if not self.has_content:
            return id_part, id_part.new_zeros(id_part.shape[0]), torch.zeros_like(id_part)
        vecs, mask, bias = self.item_content(content)  # (N', M, d), (N', M), (N',)
        h = self.fusion(vecs, mask)  # (N', d)
        no_id = (id_part.abs().sum(1) == 0).to(bias.dtype)  # (N',)
        return self.item_gate(h, id_part), bias + self.no_id_bias * no_id, h

    def forward(
        self,
        adj: torch.Tensor,
        content: dict[str, ModalityInputs],
        item_has_id: torch.Tensor,
        id_keep: torch.Tensor | None = None,
    ) -> Encoded:
        """One pass over the whole graph.

        Args:
            adj: (U + N, U + N) normalised adjacency from `graph.normalized_adjacency` (users first, no
                user-user or item-item entries: the content channels read its two off-diagonal blocks).
            content: per-modality content of the N training-index items.
            item_has_id: (N,) bool, True for items with training interactions.
            id_keep: (N,) float, 0 where ID dropout removes an item's ID part this step; None keeps all.

        Returns:
            The `Encoded` views; score(u, i) = users[u] . items[i] + bias[i].
        """
        u_n, n_layers = self.n_users, self.config.graph_layers
        has_id = item_has_id.to(self.item_id.weight.dtype)[:, None]  # (N, 1)
        # the ID channel: LightGCN over the whole graph, an item without edges has no ID part
        x0 = torch.cat([self.user_id.weight, self.item_id.weight * has_id], 0)  # (U + N, d)
        user_id, item_id = torch.split(layer_mean(adj, x0, n_layers), [u_n, self.n_items])  # (U, d), (N, d)
        item_id = item_id * has_id
        if not self.has_content:
            zeros_u, zeros_i = torch.zeros_like(user_id), torch.zeros_like(item_id)
            items = item_id if id_keep is None else item_id * id_keep[:, None]
            no_bias, no_offset = item_id.new_zeros(self.n_items), item_id.new_zeros(())
            return Encoded(zeros_u, user_id, zeros_i, items, no_bias, no_bias, no_offset, user_id, item_id, "id")
        h_u, h_i, bias = self._content_channels(adj, content)  # (U, d), (N, d) layer-0 content for every item, (N,)
        present = has_id[:, 0] if id_keep is None else has_id[:, 0] * id_keep  # (N,) 1 where the ID part is used
        id_part = item_id if id_keep is None else item_id * id_keep[:, None]
        user_gated = self.user_gate.gated(h_u, user_id)  # (U, d)
        item_gated = self.item_gate.gated(h_i, id_part)  # (N, d)
        absent = 1 - present  # (N,)
        join = self.config.id_join
        return Encoded(h_u, user_gated, h_i, item_gated, bias, absent, self.no_id_bias, user_id, item_id, join)

    def _blocks(self, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`graph.bipartite_blocks` of `adj`, kept for as long as the same adjacency comes back.

        A training run passes one adjacency every step, and slicing it reads a row pointer back (a
        device sync on CUDA).
        """
        return self._block_memo.get([adj], lambda: bipartite_blocks(adj, self.n_users))

    def _content_channels(
        self, adj: torch.Tensor, content: dict[str, ModalityInputs]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Users' and items' fused content views h_u, h_i and the items' summed content bias.

        A user's view in channel m is the user row of the channel's layer mean; without
        `propagate_user_content` the channels carry only the items' content and theta_u joins after
        the fusion, h_u = fusion(views) + theta_u / (layers + 1). An item's view is its layer-0
        content vector (module docstring), so only user rows are propagated. Everything here is linear
        up to the fusion, and a one-source fusion is linear too (`HybridFusion.fold`, v -> v F): with one
        modality F is folded into the projection, h_i = x (W^T F) + t F, instead of mapping every row
        twice.

        Shapes: -> (U, d), (N, d) zero where an item lacks every modality, (N,).
        """
        n_layers, d = self.config.graph_layers, self.config.embedding_dim
        blocks = self._blocks(adj)
        fold = len(self.modalities) == 1

        def apply(v: torch.Tensor | None, m: torch.Tensor | None) -> torch.Tensor | None:
            """The product v m, where either may be absent (a None map is the identity)."""
            return v if (v is None or m is None) else v @ m

        def fused(v: torch.Tensor | None) -> torch.Tensor | None:
            """The map v -> v F of the one-source fusion when folding it, else the identity."""
            return self.fusion.fold(v) if (fold and v is not None) else v

        propagated = self.config.propagate_user_content
        free = self.user_content.weight  # (U, M d) propagated in the channels, else (U, d) added after fusion
        if propagated:
            free = user_rows_of_layers(blocks, free, n_layers, from_items=False)
        # propagation is linear, so W x may be propagated as x then W, or as W x. An input that needs no
        # gradient (the tokenizer frozen) is propagated once at its own width and kept while the same
        # tensors come back; one that does (joint fine-tuning) is propagated as x when at most twice as
        # wide as d, else as W x (d wide, with a backward product each way); code tables as vectors
        item_vecs, vectors, inputs, bias = [], [], [], 0.0  # vectors (k, (N, d)), inputs (k, (N, E), map)
        for k, name in enumerate(self.modalities):
            x, table, b = self.encoders[name].parts(content[name])  # (N, E), (N, d), (N,)
            bias = bias + b
            w = None if x is None else self.encoders[name].proj.weight.T  # (E, d)
            to_fused = fused(w)  # (E, d): x into the fused space, W^T F when folding
            item_vecs.append(_plus(apply(x, to_fused), fused(table)))
            if x is not None and x.requires_grad and x.shape[1] > 2 * d:
                vectors.append((k, x @ w))
            elif x is not None:
                inputs.append((k, x, to_fused))
            if table is not None:
                vectors.append((k, table))
        user_parts = [fused(free[:, k * d : (k + 1) * d]) if propagated else None for k in range(len(item_vecs))]
        if fold and not propagated:  # theta_u joins the one channel's view here: h_u = (view + theta_u) / (L + 1)
            user_parts[0] = free
        if vectors:
            spread = user_rows_of_layers(blocks, torch.cat([v for _, v in vectors], 1), n_layers, True)
            for (k, _), piece in zip(vectors, spread.split(d, dim=1), strict=True):
                user_parts[k] = _plus(user_parts[k], fused(piece))
        if inputs:

            def spread_inputs() -> torch.Tensor:  # (U, sum of E)
                return user_rows_of_layers(blocks, torch.cat([x for _, x, _ in inputs], 1), n_layers, True)

            if any(x.requires_grad for _, x, _ in inputs):
                spread = spread_inputs()
            else:
                sources = [content[self.modalities[k]] for k, _, _ in inputs]
                fixed = [adj] + [t for s in sources for t in (s.mask, s.z_q, s.feats) if t is not None]
                spread = self._input_memo.get(fixed, spread_inputs)
            widths = [x.shape[1] for _, x, _ in inputs]
            for (k, _, to_fused), piece in zip(inputs, spread.split(widths, dim=1), strict=True):
                part = user_parts[k]  # the sum and the product in one op
                user_parts[k] = piece @ to_fused if part is None else torch.addmm(part, piece, to_fused)
        scale = 1.0 / (n_layers + 1)
        if fold:  # one modality: already in the fused space, theta_u included
            return user_parts[0] * scale, item_vecs[0], bias
        mask = torch.stack([content[name].mask for name in self.modalities], 1)  # (N, M)
        h_u = self.fusion(torch.stack(user_parts, 1) * scale)  # (U, d), every user has every view
        return (h_u if propagated else h_u + free * scale), self.fusion(torch.stack(item_vecs, 1), mask), bias

    def content_only(self, enc: Encoded, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final vectors and biases of items `rows` (B,) scored without their ID part, as strict-cold items are.

        The no-ID offset is left out: it is the same for every such item. Shapes: -> (B, d or 2 d), (B,).
        """
        h = enc.item_content[rows]  # (B, d)
        # the gated ID part of a zero ID vector is zero whatever the gate says, so the gate is not run
        vec = h if self.config.id_join == "sum" else F.pad(h, (0, h.shape[1]))
        return vec, enc.content_bias[rows]
