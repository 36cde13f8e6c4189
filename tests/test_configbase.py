import pytest

from motorec.configbase import from_dict, replace, to_dict
from motorec.errors import ConfigError
from motorec.tokenizer import RQVAEConfig


def test_unknown_keys_fail_loudly_and_round_trip():
    with pytest.raises(ConfigError, match="unknown key.*'codebok_size'"):
        from_dict(RQVAEConfig, {"codebok_size": 64})
    cfg = from_dict(RQVAEConfig, {"codebook_size": 64, "hidden_dims": [128, 64], "lr": 1})
    assert cfg.codebook_size == 64 and cfg.hidden_dims == (128, 64) and cfg.lr == 1.0
    assert from_dict(RQVAEConfig, to_dict(cfg)) == cfg


def test_types_and_ranges_checked():
    with pytest.raises(ConfigError, match="'levels' must be an integer"):
        from_dict(RQVAEConfig, {"levels": "3"})
    with pytest.raises(ConfigError, match="one of"):
        from_dict(RQVAEConfig, {"codebook_update": "adam"})
    with pytest.raises(ConfigError, match="codebook_size must be >= 2"):
        from_dict(RQVAEConfig, {"codebook_size": 1})
    with pytest.raises(ConfigError, match="rho must be in"):
        replace(RQVAEConfig(), rho=2.0)
    assert replace(RQVAEConfig(), levels=4).levels == 4
