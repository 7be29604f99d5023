"""Strict configs: typos, wrong types and missing values name the key, the line and the file."""

import json
from pathlib import Path

import pytest

from src.config import (
    BassetConfig,
    ConvNetConfig,
    TrainingConfig,
    config_to_dict,
    load_config,
)
from src.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, obj, name="config.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=4))
    return path


@pytest.mark.parametrize("path, cls", [
    ("json/Basset.json", BassetConfig), ("json/ConvNet.json", ConvNetConfig),
    ("json/demo/Basset.json", BassetConfig), ("json/demo/ConvNet.json", ConvNetConfig)])
def test_shipped_configs_load(path, cls):
    config = load_config(ROOT / path, cls)
    assert config.use_reverse_complement and config.targets_for_reverse_complement == [0, 1]


def test_study_settings_are_the_defaults_of_the_shipped_configs():
    config = load_config(ROOT / "json/Basset.json", BassetConfig)
    assert (config.optimizer_type, config.adam_betas, config.weight_decay, config.max_lr,
            config.warmup_steps, config.warmup_begin_lr, config.final_lr, config.batch_size,
            config.max_epochs, config.counter_for_early_stop_threshold) == (
        "adamw", [0.9, 0.99], 0.01, 1e-3, 5, 1e-4, 1e-5, 512, 100, 10)
    assert config.model_architecture.FC1inputSize == 2500


def test_typo_is_an_error_with_a_suggestion_and_the_line(tmp_path):
    path = write(tmp_path, {"results_path": "r", "max_lrr": 0.1})
    with pytest.raises(InputError) as err:
        load_config(path, BassetConfig)
    message = str(err.value)
    assert str(path) in message and "unknown key 'max_lrr' (line 3)" in message
    assert "did you mean 'max_lr'?" in message


def test_typo_in_a_nested_block(tmp_path):
    path = write(tmp_path, {"model_architecture": {"CNN1filter": 10}})
    with pytest.raises(InputError, match=r"unknown key 'model_architecture.CNN1filter'.*'CNN1filters'"):
        load_config(path, BassetConfig)


@pytest.mark.parametrize("key, value, message", [
    ("max_epochs", "100", r"key 'max_epochs' \(line 2\): Input should be a valid integer \(got \"100\"\)"),
    ("max_epochs", 10.0, r"key 'max_epochs'.*valid integer"),
    ("use_reverse_complement", "yes", r"key 'use_reverse_complement'.*valid boolean"),
    ("batch_size", 0, r"key 'batch_size'.*greater than 0"),
    ("optimizer_type", "rmsprop", r"key 'optimizer_type'.*'sgd', 'adamw' or 'adam'"),
    ("targets_for_reverse_complement", [0, 2], r"labels must be 0 or 1"),
])
def test_wrong_types_and_values(tmp_path, key, value, message):
    path = write(tmp_path, {key: value})
    with pytest.raises(InputError, match=message):
        load_config(path, ConvNetConfig)


def test_optimizer_name_is_case_insensitive_and_ints_are_valid_floats(tmp_path):
    config = load_config(write(tmp_path, {"optimizer_type": "SGD", "max_lr": 1}), ConvNetConfig)
    assert config.optimizer_type == "sgd" and config.max_lr == 1.0


def test_missing_required_value(tmp_path):
    with pytest.raises(InputError, match=r"missing required key 'results_path'"):
        load_config(write(tmp_path, {}), TrainingConfig)


def test_cross_field_rule(tmp_path):
    with pytest.raises(InputError, match=r"warmup_steps \(10\) must be smaller than max_epochs \(5\)"):
        load_config(write(tmp_path, {"warmup_steps": 10, "max_epochs": 5}), BassetConfig)


def test_invalid_json_names_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "max_lr": 0.1\n  "seed": 1\n}')
    with pytest.raises(InputError, match=r"line 3 column 3: not valid JSON"):
        load_config(path, BassetConfig)


def test_missing_file_and_non_object(tmp_path):
    with pytest.raises(InputError, match=r"config file .*nope.json not found"):
        load_config(tmp_path / "nope.json", BassetConfig)
    with pytest.raises(InputError, match=r"must be a JSON object"):
        load_config(write(tmp_path, "[1, 2]"), BassetConfig)


def test_resolved_config_is_plain_and_sorted():
    resolved = config_to_dict(load_config(ROOT / "json/demo/ConvNet.json", ConvNetConfig))
    assert list(resolved) == sorted(resolved)
    assert resolved["model_architecture"]["channels"] == [48, 64, 72, 96]
    json.dumps(resolved)
