"""Settings: defaults < environment < flags, typed conversion, and the CLI help they generate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sagemaker_openai.cli import build_parser
from sagemaker_openai.settings import ENV, Settings, load_settings


def test_defaults_without_environment_or_flags() -> None:
    assert load_settings({}, {}) == Settings()


def test_environment_then_flags() -> None:
    environ = {"SMOAI_ENGINE": "vllm", "SAGEMAKER_BIND_TO_PORT": "9000", "SM_NUM_GPUS": "4"}
    settings = load_settings({"engine": "transformers", "port": None}, environ)
    assert settings.engine == "transformers"  # the flag wins
    assert settings.port == 9000  # None means the flag was not given
    assert settings.num_gpus == 4


def test_values_are_converted_to_the_field_type() -> None:
    environ = {
        "SMOAI_KV_CACHE_GIB": "1.5",
        "SMOAI_MAX_MODEL_LEN": "1024",
        "SMOAI_ENFORCE_EAGER": "true",
    }
    settings = load_settings({}, environ)
    assert settings.kv_cache_gib == 1.5 and settings.max_model_len == 1024
    assert settings.enforce_eager is True


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("SMOAI_MAX_MODEL_LEN", "lots"),
        ("SMOAI_ENFORCE_EAGER", "maybe"),
        ("SMOAI_STREAM_FORMAT", "xml"),
    ],
)
def test_a_bad_value_is_a_one_line_error_naming_it(var: str, raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_settings({}, {var: raw})
    assert raw in str(caught.value)


def test_every_setting_has_one_variable_and_at_most_16_of_ours() -> None:
    """STYLE.md: fewer than 15 variables with our prefix, beside those SageMaker defines
    (SAGEMAKER_BIND_TO_PORT, SM_NUM_GPUS, the container standards' session variables); broken
    by two for SMOAI_REASONING_FIELD and SMOAI_REASONING_PARSER (issue 21: a client with a strict
    schema must be able to pick one reasoning name, and a model's markers be overridden, in a
    container, where only variables reach the server)."""
    names = {f.name for f in dataclasses.fields(Settings)}
    assert set(ENV) <= names  # a setting without a variable is a flag only
    assert len(set(ENV.values())) == len(ENV)
    assert len([v for v in ENV.values() if v.startswith("SMOAI_")]) <= 16
    assert all(v.startswith(("SMOAI_", "SAGEMAKER_", "SM_")) for v in ENV.values())


def test_serve_help_is_written_from_the_settings() -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    helps = {a.dest: (a.help or "").replace("%%", "%") for a in serve._actions}
    rendered = "".join(serve.format_help().split())  # what `serve --help` prints, unwrapped
    for f in dataclasses.fields(Settings):
        assert "".join(f.metadata["help"].split()) in rendered
        assert f.metadata["help"] in helps[f.name]
        assert f.name not in ENV or ENV[f.name] in helps[f.name]
    assert "4.0" in helps["kv_cache_gib"] and "8080" in helps["port"]


def test_serve_flags_reach_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--kv-cache-gib", "2", "--max-model-len", "512", "--enforce-eager"]
    )
    settings = load_settings(vars(args), {})
    assert (settings.kv_cache_gib, settings.max_model_len, settings.enforce_eager) == (
        2.0,
        512,
        True,
    )


def test_device_dtype_and_gpu_memory_come_from_the_environment_and_are_checked() -> None:
    env = {"SMOAI_DTYPE": "float32", "SMOAI_GPU_MEMORY_UTILIZATION": "0.5"}
    settings = load_settings({"device": "cpu"}, env)
    assert (settings.device, settings.dtype, settings.gpu_memory_utilization) == (
        "cpu",
        "float32",
        0.5,
    )
    for bad, message in (
        ({"SMOAI_DTYPE": "fp8"}, "dtype must be one of"),
        ({"SMOAI_GPU_MEMORY_UTILIZATION": "1.5"}, "gpu memory utilization"),
    ):
        with pytest.raises(ValueError, match=message):
            load_settings({}, bad)
    with pytest.raises(ValueError, match="device must be one of"):
        load_settings({"device": "tpu"}, {})


def test_max_loras_reads_the_standards_variable_and_is_never_negative() -> None:
    assert load_settings(environ={}).max_loras == 0  # adapters off
    assert load_settings(environ={"SM_VLLM_MAX_LORAS": "3"}).max_loras == 3
    assert load_settings({"max_loras": 1}, {"SM_VLLM_MAX_LORAS": "3"}).max_loras == 1
    with pytest.raises(ValueError, match="max loras must be 0"):
        load_settings({"max_loras": -1}, {})


def test_a_folder_flag_is_a_path_as_from_the_environment(tmp_path: Path) -> None:
    # `deploy --cache-dir` has no argparse type: the flag's text becomes a Path all the same
    assert load_settings({"cache_dir": str(tmp_path)}, {}).cache_dir == tmp_path
