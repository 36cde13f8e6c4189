import pytest

from motorec.configbase import from_dict, to_dict
from motorec.errors import ConfigError
from motorec.pipeline.config import PipelineConfig, template_fields


def test_defaults_round_trip_through_dicts():
    cfg = PipelineConfig()
    assert cfg.text_model == "all-MiniLM-L6-v2" and cfg.image_pretrained == "laion2b_s34b_b79k"
    assert cfg.modalities == ("text", "image") and not cfg.clip_text
    assert from_dict(PipelineConfig, to_dict(cfg)) == cfg


def test_lists_become_tuples_and_unknown_keys_fail():
    cfg = from_dict(PipelineConfig, {"modalities": ["text"], "image_workers": 0})
    assert cfg.modalities == ("text",) and cfg.image_workers == 0
    with pytest.raises(ConfigError, match="unknown key.*'image_wokers'"):
        from_dict(PipelineConfig, {"image_wokers": 0})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text_batch_size": 0}, "text_batch_size must be >= 1"),
        ({"image_workers": -1}, "image_workers must be >= 0"),
        ({"url_timeout_s": 0}, "url_timeout_s must be > 0"),
        ({"max_image_pixels": 0}, "max_image_pixels must be >= 1"),
        ({"modalities": ["text", "audio"]}, "modalities must be a subset"),
        ({"modalities": ["text", "text"]}, "modalities must not repeat"),
        ({"image_pretrained": ""}, 'image_pretrained must be a tag, a file path or "none"'),
        ({"text_template": "{title} {0}"}, "text_template field {0} must be a plain column name"),
        ({"text_template": "{title.upper}"}, "must be a plain column name"),
        ({"text_template": "no fields"}, "text_template must name at least one column"),
        ({"text_template": "{title"}, "expected '}'"),
        ({"device": "tpu"}, "device must be cpu or cuda"),
        ({"max_image_bytes": "big"}, "'max_image_bytes' must be an integer"),
    ],
)
def test_bad_values_are_config_errors(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("{", r"\{").replace("}", r"\}")):
        from_dict(PipelineConfig, data)


def test_template_fields_in_order_without_repeats():
    assert template_fields("{title}\n{description} {title} {year}") == ("title", "description", "year")
