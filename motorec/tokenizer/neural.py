"""`RQVAETokenizer`: the trained RQ-VAE behind the tokenizer interface."""

from __future__ import annotations

import numpy as np
import torch

from motorec.tokenizer.base import Tokenizer
from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.rqvae import RQVAE


class RQVAETokenizer(Tokenizer):
    """Codes from the RQ-VAE encoder + residual quantiser; reconstruction through its decoder."""

    kind = "rqvae"

    def __init__(self, config: RQVAEConfig, module: RQVAE, mean: np.ndarray, std: np.ndarray):
        super().__init__(config, mean, std)
        self.module = module.eval()

    def to(self, device: str | torch.device) -> RQVAETokenizer:
        super().to(device)
        self.module.to(self.device)
        return self

    def _encode_std(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.encode(x)

    def _decode_std(self, codes: torch.Tensor) -> torch.Tensor:
        return self.module.decode(codes)

    def _lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return self.module.quantizer.lookup(codes)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        state = {f"module.{k}": v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        state["standardize.mean"] = torch.from_numpy(self.mean)
        state["standardize.std"] = torch.from_numpy(self.std)
        return state

    @classmethod
    def from_state(cls, config: RQVAEConfig, input_dim: int, tensors: dict[str, torch.Tensor]) -> RQVAETokenizer:
        module = RQVAE(input_dim, config)
        module_state = {k[len("module.") :]: v for k, v in tensors.items() if k.startswith("module.")}
        module.load_state_dict(module_state, strict=True)
        return cls(config, module, tensors["standardize.mean"].numpy(), tensors["standardize.std"].numpy())
