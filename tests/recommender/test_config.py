import pytest

from motorec.configbase import from_dict, replace, to_dict
from motorec.errors import ConfigError
from motorec.recommender import RecommenderConfig


def test_defaults_follow_the_method():
    cfg = RecommenderConfig()
    assert cfg.cl_temperature == 0.2 and cfg.content == "codes" and not cfg.joint
    assert cfg.fusion_alpha == cfg.alpha
    assert replace(cfg, fusion="concat").fusion_alpha == 1.0
    assert replace(cfg, fusion="attention").fusion_alpha == 0.0


def test_round_trip_and_unknown_keys():
    cfg = RecommenderConfig(embedding_dim=32, content="none")
    assert from_dict(RecommenderConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="embeding_dim"):
        from_dict(RecommenderConfig, {"embeding_dim": 32})
    with pytest.raises(ConfigError, match="content"):
        from_dict(RecommenderConfig, {"content": "pixels"})


@pytest.mark.parametrize(
    "bad",
    [
        {"alpha": 1.5},
        {"id_dropout": 1.0},
        {"lr": 0.0},
        {"epochs": 0},
        {"joint": True, "content": "continuous"},
    ],
)
def test_ranges(bad):
    with pytest.raises(ConfigError):
        from_dict(RecommenderConfig, bad)
