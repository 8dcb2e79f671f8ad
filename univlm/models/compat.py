"""Version shims for the transformers 5.x range that ``setup.cfg`` allows.

transformers renamed the KV-cache argument and output field of its models from ``past_key_values`` to
``cache`` during 5.x (the old name warns until 5.40, then is gone; 5.24, our lowest tested release,
already has ``cache``). Code that drives a model's forward by hand (constrained decoding, prefix KV
reuse, benchmarks) asks these helpers for the right name instead of hard-coding either.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


@functools.cache
def cache_kwarg() -> str:
    """Return the name of the KV-cache keyword of the installed transformers' model forwards.

    Returns:
        ``"cache"`` on releases that renamed it, else ``"past_key_values"``.
    """
    from transformers import LlavaOnevisionForConditionalGeneration

    # deprecate_kwarg keeps functools.wraps metadata, so the signature is the wrapped function's.
    params = inspect.signature(LlavaOnevisionForConditionalGeneration.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(output: Any) -> Any:
    """Return the KV cache of a model output, whatever the installed release calls the field.

    Args:
        output: A ``ModelOutput`` returned with ``use_cache=True``.

    Returns:
        The cache object, or None when the output has none.
    """
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)
