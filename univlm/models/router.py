"""The training-free task router of the granularity MoE (G-MoE).

RSUniVLM routes each whole sample to one expert FFN chosen by the task tags of its prompt; no
router weights exist. Design choices and their sources:

- **Precedence, not position** (default ``router_mode="precedence"``). RSUniVLM's released demo
  (``app.py``) tests ``'[SEG]' in question`` first (pixel), then ``'[VG]'`` or ``'[REF]'`` (region),
  else image. With expert names ordered coarse to fine (``image``, ``region``, ``pixel``), that rule
  is "the finest expert any known tag asks for wins": with the default table it is exactly RSUniVLM's,
  and a custom table keeps a meaning. ``router_mode="first"`` takes the first known tag in text order.
- **The table lives in the model config alone** (``router_table``, ``expert_names``,
  ``default_expert``, ``router_mode`` of ``UniVLMConfig``). :func:`route_from_config` is the one call
  the processor, the collator, the evaluation code and ``Predictor`` make, so editing ``config.json``
  changes routing everywhere.
- **Only the latest user turn counts.** A chat whose history holds ``[VG]`` and whose new turn says
  ``[SEG]`` goes to pixel. :func:`latest_user_turn` takes it from a message list or from a prompt
  already rendered with the ChatML chat template.

Everything here is a pure function of the text and the table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

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
    "DEFAULT_ROUTER_MODE",
    "DEFAULT_ROUTER_TABLE",
    "EXPERT_NAMES",
    "ROUTER_MODES",
    "TASKS",
    "TASK_GRANULARITY",
    "TASK_TAGS",
    "Route",
    "content_text",
    "find_task_tag",
    "latest_user_turn",
    "route",
    "route_from_config",
]

logger = logging.getLogger(__name__)

ROUTER_MODES: tuple[str, ...] = ("precedence", "first")
DEFAULT_ROUTER_MODE = "precedence"

# A tag is an upper-case word in square brackets; "[SEG0]" (a GeoPix mask token) is not "[SEG]".
_TAG_RE = re.compile(r"\[([A-Z]{2,5})\]")
# ChatML turn markers of univlm's chat template (tokenizer_ext/chat_template.jinja).
_USER_TURN = "<|im_start|>user\n"
_TURN_END = "<|im_end|>"


class Route(NamedTuple):
    """One routing decision.

    Attributes:
        tag: The deciding task tag with brackets (e.g. ``"[VG]"``), or None for an untagged prompt.
        expert_id: Index of the expert in the config's ``expert_names``.
        expert: The expert's name.
    """

    tag: str | None
    expert_id: int
    expert: str

    @property
    def task(self) -> str | None:
        """The task name without brackets (e.g. ``"VG"``), or None."""
        return self.tag[1:-1] if self.tag else None


def _check_mode(mode: str) -> None:
    if mode not in ROUTER_MODES:
        raise ValueError(f"router_mode must be one of {list(ROUTER_MODES)}, got {mode!r}")


def find_task_tag(
    text: str,
    table: Mapping[str, str] | None = None,
    mode: str = DEFAULT_ROUTER_MODE,
    expert_names: Sequence[str] = EXPERT_NAMES,
) -> str | None:
    """Return the task tag of ``text`` that decides its expert, e.g. ``"[VG]"``.

    Args:
        text: A prompt, with or without ``<image>`` placeholders.
        table: Routing table (tag -> expert name); the default table when None.
        mode: ``"precedence"``: among the known tags, those naming the finest expert (the highest
            index in ``expert_names``) win, the first of them in text order is returned;
            ``"first"``: the first known tag in text order.
        expert_names: Expert names in id order, coarse to fine (ranks the experts in precedence mode).

    Returns:
        The tag including its brackets, or None when the text holds no known tag.

    Raises:
        ValueError: On an unknown ``mode``.
    """
    _check_mode(mode)
    table = DEFAULT_ROUTER_TABLE if table is None else table
    tags = [m.group(0) for m in _TAG_RE.finditer(text) if m.group(0) in table]
    if not tags:
        return None
    if mode == "first":
        return tags[0]
    names = list(expert_names)
    rank = {tag: names.index(table[tag]) if table[tag] in names else -1 for tag in tags}
    best = max(rank.values())
    return next(tag for tag in tags if rank[tag] == best)


def route(
    text: str,
    table: Mapping[str, str] | None = None,
    expert_names: Sequence[str] = EXPERT_NAMES,
    default_expert: str = DEFAULT_EXPERT,
    mode: str = DEFAULT_ROUTER_MODE,
) -> int:
    """Return the expert id for one user turn (see :func:`find_task_tag` for the rule).

    Args:
        text: The user turn.
        table: Routing table (tag -> expert name); the default table when None.
        expert_names: Expert names in id order.
        default_expert: Expert for text without a known tag; a warning is logged.
        mode: ``"precedence"`` or ``"first"``.

    Returns:
        The index of the expert in ``expert_names``.

    Raises:
        ValueError: If the table or the default names an expert that ``expert_names`` lacks, or on an
            unknown ``mode``.
    """
    return _decide(text, table, expert_names, default_expert, mode).expert_id


def _decide(
    text: str,
    table: Mapping[str, str] | None,
    expert_names: Sequence[str],
    default_expert: str,
    mode: str,
) -> Route:
    table = DEFAULT_ROUTER_TABLE if table is None else table
    tag = find_task_tag(text, table, mode, expert_names)
    if tag is None:
        logger.warning("prompt has no task tag; routing to the default expert %r: %.60r", default_expert, text)
        name = default_expert
    else:
        name = table[tag]
    names = list(expert_names)
    if name not in names:
        raise ValueError(f"router names expert {name!r}, expected one of {names}")
    return Route(tag, names.index(name), name)


def latest_user_turn(prompt: str | Sequence[Mapping[str, Any]]) -> str:
    """Return the text of the latest user turn of a prompt.

    Args:
        prompt: A message list (``role`` / ``content``, content a string or TRL's list of typed
            items), a prompt rendered with univlm's ChatML chat template, or a bare user prompt.

    Returns:
        The last user message's text; for a string without ChatML user markers, the string itself.
    """
    if not isinstance(prompt, str):
        users = [m for m in prompt if m.get("role") == "user"]
        return content_text(users[-1]["content"]) if users else ""
    start = prompt.rfind(_USER_TURN)
    if start < 0:
        return prompt
    body = prompt[start + len(_USER_TURN) :]
    end = body.find(_TURN_END)
    return body if end < 0 else body[:end]


def content_text(content: Any) -> str:
    """Text of a message content given as a string or as TRL's list of typed items."""
    if isinstance(content, str):
        return content
    return "".join(item.get("text", "") for item in content if item.get("type") == "text")


def route_from_config(config: Any, prompt: str | Sequence[Mapping[str, Any]]) -> Route:
    """Route a prompt with the routing fields of a model config: the one call every caller makes.

    Args:
        config: A ``UniVLMConfig`` (``model.config``). Any object works; a missing ``router_table``,
            ``expert_names``, ``default_expert`` or ``router_mode`` takes univlm's default, so a stock
            ``LlavaOnevisionConfig`` routes as RSUniVLM does.
        prompt: A message list, a rendered chat prompt or a bare user prompt; only the latest user turn
            is read (see :func:`latest_user_turn`).

    Returns:
        The :class:`Route` (tag, expert id, expert name).

    Raises:
        ValueError: If the config's table or default names an unknown expert, or its mode is unknown.
    """
    table = getattr(config, "router_table", None)
    names = getattr(config, "expert_names", None) or EXPERT_NAMES
    default = getattr(config, "default_expert", None) or DEFAULT_EXPERT
    mode = getattr(config, "router_mode", None) or DEFAULT_ROUTER_MODE
    return _decide(latest_user_turn(prompt), table, names, default, mode)
