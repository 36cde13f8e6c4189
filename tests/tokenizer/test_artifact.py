import json

import numpy as np
import pytest

from motorec.errors import ArtifactError
from motorec.tokenizer import RQVAEConfig, fit, load_tokenizer, save_tokenizer, tokenizer_version
from motorec.tokenizer.artifact import _version
from motorec.tokenizer.config import LEGACY_DEFAULTS


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(20, 16))[rng.integers(0, 20, 800)] + 0.1 * rng.normal(size=(800, 16))).astype(np.float32)
    cfg = RQVAEConfig(levels=2, codebook_size=16, latent_dim=8, hidden_dims=(32,), max_steps=100)
    tok, stats = fit(x, config=cfg, progress=False)
    return x, tok, stats


@pytest.mark.parametrize("method", ["rqvae", "rqkmeans"])
def test_save_load_round_trip_identical_codes(tmp_path, fitted, method):
    x, tok, stats = fitted
    if method == "rqkmeans":
        tok, stats = fit(x, config=RQVAEConfig(method="rqkmeans", levels=2, codebook_size=16), progress=False)
    version = save_tokenizer(tok, stats, tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["config.json", "stats.json", "weights.safetensors"]
    assert version == tokenizer_version(tok) and len(version) == 16
    loaded = load_tokenizer(tmp_path / "tok", expected_version=version)
    np.testing.assert_array_equal(loaded.encode(x), tok.encode(x))
    np.testing.assert_array_equal(loaded.decode(tok.encode(x)), tok.decode(tok.encode(x)))
    assert loaded.config == tok.config
    assert json.loads((tmp_path / "tok" / "stats.json").read_text())["version"] == version


def test_artifact_directories_are_immutable(tmp_path, fitted):
    _, tok, stats = fitted
    save_tokenizer(tok, stats, tmp_path / "tok")
    with pytest.raises(FileExistsError):
        save_tokenizer(tok, stats, tmp_path / "tok")


def test_corrupted_or_mismatched_artifacts_give_clear_errors(tmp_path, fitted):
    _, tok, stats = fitted
    version = save_tokenizer(tok, stats, tmp_path / "tok")
    with pytest.raises(ArtifactError, match="expected abc"):
        load_tokenizer(tmp_path / "tok", expected_version="abc")
    weights = tmp_path / "tok" / "weights.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-5] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="corrupted"):
        load_tokenizer(tmp_path / "tok")
    with pytest.raises(ArtifactError, match="incomplete"):
        load_tokenizer(tmp_path / "missing")
    # a config that no longer matches the weights (edited, stats re-signed): a mismatch, not a crash
    save_tokenizer(tok, stats, tmp_path / "tok2")
    cfg_path = tmp_path / "tok2" / "config.json"
    meta = json.loads(cfg_path.read_text())
    meta["config"]["latent_dim"] = 4
    cfg_path.write_text(json.dumps(meta, indent=2, sort_keys=True))
    stats_path = tmp_path / "tok2" / "stats.json"
    s = json.loads(stats_path.read_text())
    s["version"] = _version(cfg_path.read_bytes(), (tmp_path / "tok2" / "weights.safetensors").read_bytes())
    stats_path.write_text(json.dumps(s))
    with pytest.raises(ArtifactError, match="does not match its config"):
        load_tokenizer(tmp_path / "tok2")
    assert version != s["version"]


def test_artifacts_written_before_later_config_fields_still_load(tmp_path, fitted):
    x, _, _ = fitted
    cfg = RQVAEConfig(levels=2, codebook_size=16, latent_dim=8, hidden_dims=(32,), max_steps=50, **LEGACY_DEFAULTS)
    tok, stats = fit(x, config=cfg, progress=False)
    save_tokenizer(tok, stats, tmp_path / "tok")
    # rewrite config.json as the first format did, without the fields added since, and re-sign it
    cfg_path, stats_path = tmp_path / "tok" / "config.json", tmp_path / "tok" / "stats.json"
    meta = json.loads(cfg_path.read_text())
    for key in LEGACY_DEFAULTS:
        del meta["config"][key]
    cfg_path.write_text(json.dumps(meta, indent=2, sort_keys=True))
    s = json.loads(stats_path.read_text())
    s["version"] = _version(cfg_path.read_bytes(), (tmp_path / "tok" / "weights.safetensors").read_bytes())
    stats_path.write_text(json.dumps(s))
    loaded = load_tokenizer(tmp_path / "tok")
    assert loaded.config == cfg and not loaded.config.skip
    np.testing.assert_array_equal(loaded.encode(x), tok.encode(x))
