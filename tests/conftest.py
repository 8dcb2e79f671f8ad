"""Shared fixtures: everything is built in-process, nothing comes from the model hub."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory):
    """A directory holding a tiny Qwen2-style tokenizer saved with ``save_pretrained``."""
    from univlm.testing import build_tiny_qwen2_tokenizer

    path = tmp_path_factory.mktemp("tiny_tokenizer")
    build_tiny_qwen2_tokenizer(path)
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_tokenizer_dir):
    """The tiny Qwen2-style tokenizer, loaded back through ``AutoTokenizer.from_pretrained``."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
