import json

import numpy as np
import pytest
import torch

from motorec.errors import ArtifactError
from motorec.recommender import RecommenderConfig, fit, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def trained(planted_task):
    data = planted_task["data"]
    cfg = RecommenderConfig(embedding_dim=8, batch_size=128, epochs=2, cl_samples=32)
    res = fit(data.train, len(data.users), len(data.items), planted_task["content"], cfg, progress=False)
    return res, data


def save(tmp_path, trained, versions={"text": "v1"}):  # noqa: B006
    res, data = trained
    return save_checkpoint(
        tmp_path / "ckpt", res.model, data.users, data.items, data.train, versions, {"best_epoch": res.best_epoch}
    )


def test_round_trip_scores_identically(tmp_path, trained, planted_task):
    res, data = trained
    path = save(tmp_path, trained)
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["config.json", "weights.safetensors", "meta.json", "users.parquet", "items.parquet", "train.parquet"]
    )
    ckpt = load_checkpoint(path, current_versions={"text": "v1"})
    assert ckpt.config == res.model.config
    assert ckpt.users.ids.equals(data.users.ids) and ckpt.items.ids.equals(data.items.ids)
    np.testing.assert_array_equal(ckpt.item_has_id, data.item_has_id)
    users = np.arange(len(data.users))
    torch.testing.assert_close(ckpt.scorer(planted_task["content"]).score(users), res.scorer().score(users))
    assert ckpt.meta["best_epoch"] == res.best_epoch and ckpt.tokenizer_versions == {"text": "v1"}


def test_no_pickle_in_the_checkpoint(tmp_path, trained):
    path = save(tmp_path, trained)
    for f in path.iterdir():
        assert not f.read_bytes().startswith(b"\x80"), f.name  # pickle protocol header


def test_version_mismatch_is_refused_unless_allowed(tmp_path, trained):
    path = save(tmp_path, trained)
    with pytest.raises(ArtifactError, match="tokenizer version v1 for modality 'text'.*current version is v2"):
        load_checkpoint(path, current_versions={"text": "v2"})
    with pytest.raises(ArtifactError, match="current version is None"):
        load_checkpoint(path, current_versions={})
    assert load_checkpoint(path, current_versions={"text": "v2"}, allow_version_mismatch=True).model is not None


def test_save_needs_a_version_per_content_modality(tmp_path, trained):
    with pytest.raises(ArtifactError, match="text"):
        save(tmp_path, trained, versions={})


def test_existing_directory_is_never_overwritten(tmp_path, trained):
    save(tmp_path, trained)
    with pytest.raises(FileExistsError):
        save(tmp_path, trained)


def test_damaged_checkpoints_raise_artifact_errors(tmp_path, trained):
    path = save(tmp_path, trained)
    (path / "meta.json").write_text(json.dumps({**json.loads((path / "meta.json").read_text()), "n_items": 3}))
    with pytest.raises(ArtifactError, match="cannot be loaded"):
        load_checkpoint(path)
    (path / "weights.safetensors").unlink()
    with pytest.raises(ArtifactError, match="incomplete"):
        load_checkpoint(path)


def test_checkpoint_from_before_code_tables_and_id_gate_loads_as_trained(tmp_path, planted_task):
    data = planted_task["data"]
    old = {"code_tables": True, "id_gate": "vector", "propagate_user_content": True, "cl_every": 1}  # as trained then
    cfg = RecommenderConfig(embedding_dim=8, batch_size=128, epochs=1, cl_samples=32, **old)
    res = fit(data.train, len(data.users), len(data.items), planted_task["content"], cfg, progress=False)
    path = save(tmp_path, (res, data))
    blob = json.loads((path / "config.json").read_text())
    for field in old:  # a checkpoint written before the fields
        del blob["config"][field]
    (path / "config.json").write_text(json.dumps(blob))
    ckpt = load_checkpoint(path, current_versions={"text": "v1"})
    assert {field: getattr(ckpt.config, field) for field in old} == old
    users = np.arange(len(data.users))
    torch.testing.assert_close(ckpt.scorer(planted_task["content"]).score(users), res.scorer().score(users))
