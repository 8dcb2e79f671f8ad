"""The KV-cache keyword and output field of the supported transformers releases."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import torch
from transformers import LlavaOnevisionForConditionalGeneration

from univlm.models import UniVLMForConditionalGeneration, get_preset
from univlm.models.compat import cache_kwarg, output_cache


def test_cache_kwarg_is_a_forward_parameter_of_the_installed_release():
    params = inspect.signature(LlavaOnevisionForConditionalGeneration.forward).parameters
    assert cache_kwarg() == "cache" and "cache" in params


def test_output_cache_reads_a_real_output_and_tolerates_none():
    torch.manual_seed(0)
    model = UniVLMForConditionalGeneration(get_preset("tiny")).eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[5, 6, 7]]), use_cache=True)
        assert output_cache(out) is not None and output_cache(out).get_seq_length() == 3
        step = model(input_ids=torch.tensor([[8]]), use_cache=True, **{cache_kwarg(): output_cache(out)})
    assert output_cache(step).get_seq_length() == 4
    assert output_cache(SimpleNamespace()) is None
