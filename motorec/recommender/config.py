"""`RecommenderConfig`: every knob of the multi-source graph recommender (METHOD.md §4-6).

Each ablation of METHOD.md §6 is one field, so a benchmark reruns it by changing a single value:
`content="continuous"` (without RQ-VAE: a projection of the raw vectors), `content="none"` (ID only,
which is LightGCN), `ara=False`, `sparsity=False` (both act on the tokenizer loss, so only with
`joint=True`), `contrastive=False`, `fusion="concat"` (without hybrid fusion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from motorec.configbase import require


@dataclass(frozen=True)
class RecommenderConfig:
    """Recommender configuration, saved inside every checkpoint.

    Attributes:
        embedding_dim: d, the width of every channel.
        graph_layers: LightGCN propagation layers per channel.
        alpha: hybrid fusion weight, alpha * concat + (1 - alpha) * attention.
        lambda_cl: weight of the InfoNCE loss between the content and the ID view.
        cl_temperature: InfoNCE temperature.
        cl_detach_id: stop the InfoNCE gradient into the ID view, so the content view learns to predict
            the collaborative embedding without pulling it towards content (aligning both ways cost
            a third of warm Recall@20 on MovieLens-100k).
        cl_samples: rows per view drawn from the batch for InfoNCE (bounds its (S, S) logits). 64: on
            MovieLens-100k validation (3 seeds, user content not propagated) 256 / 128 / 64 gave cold
            Recall@20 0.319 / 0.320 / 0.318, warm 0.399 / 0.398 / 0.400, all 0.222 / 0.224 / 0.224,
            and 64 takes a sixteenth of 256's logits work (512 and 256 had also tied earlier).
        cl_every: compute InfoNCE on every cl_every-th training step only, at cl_every times
            lambda_cl, so its expected gradient per step is unchanged (lazy regularisation, as StyleGAN2
            computes its R1 penalty; Karras et al. 2020); 1 computes it on every step. 2 by default: on
            MovieLens-100k validation (3 seeds) cl_every 1 / 2 / 4 gave early-stopping Recall@20
            0.1858 / 0.1854 / 0.1847, cold 0.321 / 0.325 / 0.321, warm 0.401 / 0.400 / 0.398, all
            0.223 / 0.224 / 0.223, and 2 took 5% off the training epoch (InfoNCE was a twelfth of the step).
        lambda_rq: weight of the tokenizer loss under joint fine-tuning.
        lambda_reg: L2 weight on the layer-0 rows a batch touches.
        content_weight_decay: L2 weight decay on the content encoders (code tables, projections, biases,
            fusion): every warm item's content is unique enough to be memorised like an ID, which
            helps no cold item.
        id_dropout: share of items whose ID part is zeroed at each step of the main BPR term, so the model
            learns to rank from content alone (strict-cold items have no ID). 0 by default: the
            content-only term (`lambda_content`) already scores every pair of every step without ID parts,
            and on MovieLens-100k validation (3 seeds, tied code embeddings) dropout 0 / 0.1 / 0.3 gave
            warm R@20 0.397 / 0.388 / 0.388, cold 0.317 / 0.323 / 0.319, all 0.222 / 0.230 / 0.230:
            only dropout 0 keeps warm items level with LightGCN (0.398).
        lambda_content: weight of a second BPR term in which every item of the batch is scored from
            content alone (as a strict-cold item is), so the content path learns from every step while
            the main term keeps the ID part of warm items; 0 turns it off.
        lr, batch_size, epochs, patience, eval_every: optimisation; patience counts evaluations.
        seed, device: reproducibility and placement.
        content: "codes" (code embeddings + z_q projection), "continuous" (a projection of the raw
            feature vectors) or "none" (ID only = LightGCN).
        use_zq_projection: add a linear projection of z_q to the summed code embeddings.
        code_tables: free tables, one learnable vector (and bias) per (modality, level, code), on top of
            the z_q projection. Off by default: z_q is the sum of the item's codebook vectors, so W z_q
            is already a sum of per-(level, code) embeddings W C_l[code], tied to the tokenizer's
            codebooks by one learned W. On MovieLens-100k validation (3 seeds) the tied form gave cold
            Recall@20 0.319 against 0.273 with free tables, warm 0.388 against 0.382: a free table row
            for a deep-level code is shared by a handful of warm items and learns them like an ID.
        fusion: "hybrid", "concat" (alpha = 1) or "attention" (alpha = 0).
        id_join: how the gated ID part joins the content part: "sum" (e = h + g x, one shared space) or
            "concat" (e = [h; g x], content and ID parts score separately and add up).
        id_gate: the gate g = sigmoid(W_g [h; x] + b): "scalar", one gate per node (W_g is 1 x 2d), or
            "vector", one per dimension (d x 2d). Scalar by default: on MovieLens-100k validation
            (3 seeds) it gave cold / warm / all Recall@20 0.326 / 0.398 / 0.224 against 0.317 / 0.396 /
            0.221 for the vector gate, and a 13% shorter training step (the vector gate's d x 2d
            products on every user and item were a seventh of the step).
        propagate_user_content: propagate each user's free content vectors (one per modality) through
            the graph with the items' content vectors, as a LightGCN channel does. False (the default)
            propagates the items' content only and adds one free vector per user after the fusion: a
            user's content view is then the fused content of the items the user reached plus a free
            preference, as in VBPR. With the tokenizer frozen and without free code tables (the
            defaults), the propagated item content is a fixed function of z_q, computed once, so a
            content channel costs no graph product per step. On MovieLens-100k validation (3 seeds)
            True / False gave early-stopping Recall@20 0.1849 / 0.1858, cold 0.326 / 0.321, warm
            0.398 / 0.401, all 0.224 / 0.223 (False with cl_samples 64), and False took 15% off the
            training epoch.
        contrastive: use the InfoNCE loss.
        joint: fine-tune the tokenizer with the recommender (codes are recomputed every step).
        ara: adaptive rarity weights on the tokenizer loss (joint only).
        sparsity: the sparse usage prior in the tokenizer loss (joint only).
        no_id_bias: learn one score offset for items scored without an ID part (strict-cold items, and
            ID-dropped items in training), calibrating cold against warm items when both are ranked.
        calibrate_no_id: after training, shift the no-ID offset by the multiple of the score spread that
            maximises validation Recall@20 (needs validation interactions on items without ID).
        content_bias: an item bias computed from content (code biases plus a linear term on z_q).
        tokenizer_lr: learning rate of the tokenizer under joint fine-tuning.
    """

    embedding_dim: int = 64
    graph_layers: int = 2
    alpha: float = 0.5
    lambda_cl: float = 0.05
    cl_temperature: float = 0.2
    cl_detach_id: bool = True
    cl_samples: int = 64
    cl_every: int = 2
    lambda_rq: float = 0.1
    lambda_reg: float = 1e-4
    content_weight_decay: float = 1e-3
    id_dropout: float = 0.0
    lambda_content: float = 1.0
    lr: float = 5e-3
    batch_size: int = 2048
    epochs: int = 150
    patience: int = 5
    eval_every: int = 3
    seed: int = 0
    device: str = "cpu"
    content: Literal["codes", "continuous", "none"] = "codes"
    use_zq_projection: bool = True
    code_tables: bool = False
    fusion: Literal["hybrid", "concat", "attention"] = "hybrid"
    id_join: Literal["sum", "concat"] = "concat"
    id_gate: Literal["vector", "scalar"] = "scalar"
    propagate_user_content: bool = False
    contrastive: bool = True
    joint: bool = False
    ara: bool = True
    sparsity: bool = True
    content_bias: bool = True
    no_id_bias: bool = True
    calibrate_no_id: bool = True
    tokenizer_lr: float = 1e-4

    def __post_init__(self) -> None:
        require(self.embedding_dim >= 1, "embedding_dim must be >= 1")
        require(self.graph_layers >= 0, "graph_layers must be >= 0")
        require(0.0 <= self.alpha <= 1.0, "alpha must be in [0, 1]")
        require(
            min(self.lambda_cl, self.lambda_rq, self.lambda_reg, self.lambda_content) >= 0, "loss weights must be >= 0"
        )
        require(self.content_weight_decay >= 0, "content_weight_decay must be >= 0")
        require(self.cl_temperature > 0, "cl_temperature must be > 0")
        require(self.cl_samples >= 2, "cl_samples must be >= 2")
        require(self.cl_every >= 1, "cl_every must be >= 1")
        require(0.0 <= self.id_dropout < 1.0, "id_dropout must be in [0, 1)")
        require(self.lr > 0 and self.tokenizer_lr > 0, "learning rates must be > 0")
        require(self.batch_size >= 1, "batch_size must be >= 1")
        require(
            self.epochs >= 1 and self.patience >= 1 and self.eval_every >= 1,
            "epochs, patience and eval_every must be >= 1",
        )
        require(not (self.joint and self.content != "codes"), "joint fine-tuning needs content='codes'")
        require(
            self.content != "codes" or self.code_tables or self.use_zq_projection,
            "content='codes' needs code_tables or use_zq_projection (or both)",
        )

    @property
    def fusion_alpha(self) -> float:
        """The alpha actually used: `alpha` for hybrid fusion, 1 for concat, 0 for attention."""
        return {"hybrid": self.alpha, "concat": 1.0, "attention": 0.0}[self.fusion]
