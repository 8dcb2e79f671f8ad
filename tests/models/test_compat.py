"""Version shims for transformers' KV-cache keyword and output field."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from transformers import LlavaOnevisionForConditionalGeneration

from univlm.models.compat import cache_kwarg, output_cache


def test_cache_kwarg_is_a_forward_parameter_of_the_installed_release():
    params = inspect.signature(LlavaOnevisionForConditionalGeneration.forward).parameters
    assert cache_kwarg() in params
    if "cache" in params:  # the new name wins wherever it exists (the old one only warns)
        assert cache_kwarg() == "cache"


def test_output_cache_reads_either_field():
    marker = object()
    assert output_cache(SimpleNamespace(cache=marker)) is marker
    assert output_cache(SimpleNamespace(past_key_values=marker)) is marker
    assert output_cache(SimpleNamespace(cache=None, past_key_values=marker)) is marker
    assert output_cache(SimpleNamespace()) is None
