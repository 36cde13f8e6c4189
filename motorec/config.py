r"""The project's configuration: one frozen dataclass per concern, loaded from motorec.toml.

```toml
[tokenizer]          # RQVAEConfig
codebook_size = 64
[pipeline]           # PipelineConfig
text_template = "{title}\\n{description}"
[recommender]        # RecommenderConfig
[store]              # StoreConfig
```
Unknown sections and keys fail loudly; CLI flags override file values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from motorec.configbase import from_dict, require, to_dict
from motorec.errors import ConfigError
from motorec.pipeline.config import PipelineConfig
from motorec.recommender.config import RecommenderConfig
from motorec.tokenizer.config import RQVAEConfig


@dataclass(frozen=True)
class StoreConfig:
    """Store-level settings: DuckDB's memory limit and the sample the tokenizer is fitted on."""

    # DuckDB's buffer pool fills to this limit with cached vector blocks: 1M-item local tokenize, embed stage
    # peak RSS 2.0 GiB at "1GB", 1.5 GiB at "512MB" (torch and motorec alone take ~1.0 GiB)
    memory_limit: str = "512MB"
    # the fit holds the sample twice (raw and standardised: 150 MB each per 100k 384-d items) on top of ~1.5 GiB
    # (torch, DuckDB's pool, the run's tables) and ~0.4 GiB of training runtime: a 1M-item local tokenize peaks
    # at 2.26 GiB RSS with 200_000, 1.93 GiB with 100_000 (the fit stage is the peak either way)
    fit_sample_items: int = 100_000
    encode_batch_rows: int = 16_384

    def __post_init__(self) -> None:
        require(self.fit_sample_items >= 1, "fit_sample_items must be >= 1")
        require(self.encode_batch_rows >= 1, "encode_batch_rows must be >= 1")
        require(self.memory_limit.strip()[:1].isdigit(), "memory_limit must look like '2GB'")


@dataclass(frozen=True)
class MotorecConfig:
    """Everything a run needs; saved (as JSON) with the artifacts and in the runs table."""

    tokenizer: RQVAEConfig = field(default_factory=RQVAEConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    recommender: RecommenderConfig = field(default_factory=RecommenderConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def load_config(path: str | Path | None = None, **section_overrides: dict[str, Any]) -> MotorecConfig:
    """Read motorec.toml (or defaults when `path` is None) and apply per-section overrides.

    Example: `load_config("motorec.toml", pipeline={"device": "cuda"})`.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid TOML ({exc})") from exc
    for section, values in section_overrides.items():
        if values:
            data.setdefault(section, {}).update(values)
    return from_dict(MotorecConfig, data, where=str(path) if path else "config")
