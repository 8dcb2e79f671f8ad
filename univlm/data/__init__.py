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
from univlm.data.synth import ensure_synthetic, generate_synthetic

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
