"""Instruction records, prompt templates, the synthetic dataset, resampling and validation.

See docs/DATA.md for the record schema.
"""

from __future__ import annotations

from univlm.data.schema import (
    Problem,
    RecordError,
    load_hf_dataset,
    read_jsonl,
    read_records,
    validate_record,
    write_jsonl_atomic,
)

# The synthetic generator pulls in image and model code; load it on first use so that
# ``univlm.data.schema`` stays importable without torch or transformers.
_LAZY = {"ensure_synthetic": "univlm.data.synth", "generate_synthetic": "univlm.data.synth"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'univlm.data' has no attribute {name!r}")


__all__ = [
    "Problem",
    "RecordError",
    "ensure_synthetic",
    "generate_synthetic",
    "load_hf_dataset",
    "read_jsonl",
    "read_records",
    "validate_record",
    "write_jsonl_atomic",
]
