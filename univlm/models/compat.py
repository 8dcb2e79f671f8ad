"""The KV-cache keyword and output field of the transformers releases univlm supports (>=5.24, <6).

transformers renamed the KV-cache argument and output field of its models from ``past_key_values`` to
``cache`` during 5.x; every release from the declared floor (5.24) on uses ``cache`` in both places,
so the version detection and the ``past_key_values`` fallback this module used to carry are gone
(issue #13). Code that drives a model's forward by hand (constrained decoding, prefix KV reuse,
benchmarks) may keep calling these two helpers or write ``cache`` directly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CACHE_KWARG", "cache_kwarg", "output_cache"]

CACHE_KWARG = "cache"


def cache_kwarg() -> str:
    """Return the KV-cache keyword of model forwards: ``"cache"`` on every supported release."""
    return CACHE_KWARG


def output_cache(output: Any) -> Any:
    """Return the KV cache of a model output (its ``cache`` field), or None when it has none.

    Args:
        output: A ``ModelOutput`` returned with ``use_cache=True``.
    """
    return getattr(output, CACHE_KWARG, None)
