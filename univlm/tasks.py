"""Task names, tags, granularities and expert names: the one dependency-free source of truth.

The router, the record schema, the prompt templates, the collator, the trainer and the evaluation
registry all read these constants. The module imports nothing beyond the standard library, so
``univlm.data.schema`` and the codecs stay importable without torch or transformers.

Design choices and their sources:

- Seven task tags, each an upper-case word in square brackets (RSUniVLM, arXiv 2412.05679):
  ``[CAP]``, ``[CLS]``, ``[VQA]``, ``[CCD]`` (image level), ``[VG]``, ``[REF]`` (region level) and
  ``[SEG]`` (pixel level, also change detection on an image pair).
- Three experts in id order ``image``, ``region``, ``pixel``, as RSUniVLM's G-MoE copies each FFN.
- ``IMAGE_TOKEN`` is LLaVA's ``<image>`` placeholder, one per input image.
"""

from __future__ import annotations

from types import MappingProxyType

TASKS: tuple[str, ...] = ("CAP", "CLS", "VQA", "VG", "REF", "SEG", "CCD")
TASK_TAGS: tuple[str, ...] = tuple(f"[{t}]" for t in TASKS)
EXPERT_NAMES: tuple[str, ...] = ("image", "region", "pixel")
DEFAULT_EXPERT = "image"

# Read-only views: callers that need a table of their own copy it with ``dict(...)``.
DEFAULT_ROUTER_TABLE: MappingProxyType[str, str] = MappingProxyType(
    {
        "[CAP]": "image",
        "[CLS]": "image",
        "[VQA]": "image",
        "[CCD]": "image",
        "[VG]": "region",
        "[REF]": "region",
        "[SEG]": "pixel",
    }
)
TASK_GRANULARITY: MappingProxyType[str, str] = MappingProxyType(
    {tag[1:-1]: expert for tag, expert in DEFAULT_ROUTER_TABLE.items()}
)

# Tasks whose answers follow a grammar (a box, a mask) rather than free text.
BOX_TASKS = frozenset({"VG"})
MASK_TASKS = frozenset({"SEG"})
CONSTRAINED_TASKS = BOX_TASKS | MASK_TASKS

IMAGE_TOKEN = "<image>"

# Text4Seg's semantic-descriptor grid side (24 x 24 cells), used unless a caller chooses another.
DEFAULT_GRID = 24
# Characters a mask label may not contain: they separate runs (``|``), counts (``*``), rows
# (newline) or delimit the ``<seg>`` block.
FORBIDDEN_LABEL_CHARS = "|*<>\n"

__all__ = [
    "BOX_TASKS",
    "CONSTRAINED_TASKS",
    "DEFAULT_EXPERT",
    "DEFAULT_GRID",
    "DEFAULT_ROUTER_TABLE",
    "EXPERT_NAMES",
    "FORBIDDEN_LABEL_CHARS",
    "IMAGE_TOKEN",
    "MASK_TASKS",
    "TASKS",
    "TASK_GRANULARITY",
    "TASK_TAGS",
]
