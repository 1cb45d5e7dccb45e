"""The transformers engine needs transformers 4.56 or later (its per-layer KV caches); every
default image ships one (sagemaker/images.py), and an older one fails the load in one line."""

from __future__ import annotations

import pytest
import transformers

from sagemaker_openai.engines.transformers import engine


@pytest.mark.parametrize("version", ["4.49.0", "4.45.2", "4.55.4"])
def test_an_older_transformers_is_refused_in_one_line(version: str, monkeypatch) -> None:
    monkeypatch.setattr(transformers, "__version__", version)
    with pytest.raises(RuntimeError, match=rf"transformers {version} .* needs 4\.56 or later"):
        engine._check_transformers()


@pytest.mark.parametrize("version", ["4.56.0", "5.5.3", "5.19.0"])
def test_4_56_and_later_load(version: str, monkeypatch) -> None:
    monkeypatch.setattr(transformers, "__version__", version)
    engine._check_transformers()
