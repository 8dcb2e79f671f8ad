"""Instruction records, prompt templates, the synthetic dataset, resampling and validation.

See docs/DATA.md for the record schema.
"""

from __future__ import annotations

from univlm._lazy import lazy_module_attributes
from univlm.data.schema import (
    Problem,
    RecordError,
    read_jsonl,
    read_records,
    write_jsonl_atomic,
)

# The checker (numpy, the codecs, PIL) and the synthetic generator load on first use, so that
# ``import univlm.data`` and ``univlm.data.schema`` stay light; neither imports torch or transformers.
_LAZY = {
    "check_record": "univlm.data.validate",
    "ensure_synthetic": "univlm.data.synth",
    "generate_synthetic": "univlm.data.synth",
    "load_hf_dataset": "univlm.data.validate",
    "validate_file": "univlm.data.validate",
    "validate_record": "univlm.data.validate",
}


__getattr__, __dir__ = lazy_module_attributes(__name__, _LAZY, globals())


__all__ = [
    "Problem",
    "RecordError",
    "check_record",
    "ensure_synthetic",
    "generate_synthetic",
    "load_hf_dataset",
    "read_jsonl",
    "read_records",
    "validate_file",
    "validate_record",
    "write_jsonl_atomic",
]
