"""The training-free task router of the granularity MoE (G-MoE).

RSUniVLM routes each whole sample to one expert FFN chosen by the task tag that opens its prompt;
no router weights exist. The default table follows RSUniVLM's released demo:
``[SEG]`` -> pixel, ``[VG]``/``[REF]`` -> region, ``[CAP]``/``[CLS]``/``[VQA]``/``[CCD]`` -> image.

Everything here is a pure function of the prompt text and the table, so the same ids are computed
by the processor (inference), the collator (training) and the evaluation code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from univlm.tasks import (  # re-exported: callers used to import these from here
    DEFAULT_EXPERT,
    DEFAULT_ROUTER_TABLE,
    EXPERT_NAMES,
    TASK_GRANULARITY,
    TASK_TAGS,
    TASKS,
)

__all__ = [
    "DEFAULT_EXPERT",
    "DEFAULT_ROUTER_TABLE",
    "EXPERT_NAMES",
    "TASKS",
    "TASK_GRANULARITY",
    "TASK_TAGS",
    "find_task_tag",
    "route",
    "route_batch",
]

logger = logging.getLogger(__name__)

# A tag is an upper-case word in square brackets; "[SEG0]" (a GeoPix mask token) is not "[SEG]".
_TAG_RE = re.compile(r"\[([A-Z]{2,5})\]")


def find_task_tag(text: str, table: Mapping[str, str] | None = None) -> str | None:
    """Return the first task tag of ``text`` that the routing table knows, e.g. ``"[VG]"``.

    Args:
        text: A prompt, with or without ``<image>`` placeholders and chat markup.
        table: Routing table (tag -> expert name); the default table when None.

    Returns:
        The tag including its brackets, or None when the text holds no known tag.
    """
    table = DEFAULT_ROUTER_TABLE if table is None else table
    for match in _TAG_RE.finditer(text):
        tag = match.group(0)
        if tag in table:
            return tag
    return None


def route(
    text: str,
    table: Mapping[str, str] | None = None,
    expert_names: Sequence[str] = EXPERT_NAMES,
    default_expert: str = DEFAULT_EXPERT,
) -> int:
    """Return the expert id for one prompt.

    Args:
        text: The user prompt (only the first known tag counts).
        table: Routing table (tag -> expert name); the default table when None.
        expert_names: Expert names in id order.
        default_expert: Expert for prompts without a known tag; a warning is logged.

    Returns:
        The index of the expert in ``expert_names``.

    Raises:
        ValueError: If the table or the default names an expert that ``expert_names`` lacks.
    """
    table = DEFAULT_ROUTER_TABLE if table is None else table
    tag = find_task_tag(text, table)
    if tag is None:
        logger.warning("prompt has no task tag; routing to the default expert %r: %.60r", default_expert, text)
        name = default_expert
    else:
        name = table[tag]
    try:
        return list(expert_names).index(name)
    except ValueError:
        raise ValueError(f"router names expert {name!r}, expected one of {list(expert_names)}") from None


def route_batch(
    texts: Sequence[str],
    table: Mapping[str, str] | None = None,
    expert_names: Sequence[str] = EXPERT_NAMES,
    default_expert: str = DEFAULT_EXPERT,
) -> list[int]:
    """Route every prompt of a batch; see :func:`route`."""
    return [route(t, table, expert_names, default_expert) for t in texts]
