"""Prompt parsing for inference: which mask labels a ``[SEG]`` prompt asks for.

univlm's own segmentation templates (``univlm.data.templates``) are matched first, so a label that
is a phrase ("bare land and water") stays whole; any other prompt uses the text after its tag.
"""

from __future__ import annotations

import re

from univlm.codecs.masks import BACKGROUND
from univlm.data.templates import CHANGE_SEG_TEMPLATE, MULTI_SEG_TEMPLATE, SEG_TEMPLATES
from univlm.models.router import find_task_tag
from univlm.tasks import FORBIDDEN_LABEL_CHARS, IMAGE_TOKEN

__all__ = ["labels_from_prompt"]


def _template_regex(template: str, field_name: str) -> re.Pattern[str]:
    pattern = re.escape(template).replace(re.escape("{" + field_name + "}"), f"(?P<{field_name}>.+?)")
    return re.compile(pattern + r"\s*$", re.IGNORECASE)


def _seg_patterns() -> tuple[list[re.Pattern[str]], re.Pattern[str]]:
    singles = [_template_regex(t, "cls") for t in (*SEG_TEMPLATES, CHANGE_SEG_TEMPLATE)]
    return singles, _template_regex(MULTI_SEG_TEMPLATE, "targets")


def labels_from_prompt(prompt: str) -> list[str]:
    """The mask labels a ``[SEG]`` prompt asks for, ``others`` first.

    Recognises univlm's segmentation templates (single class, change detection, multi-referring
    ``Please segment the a, the b and the c in this image.``); any other prompt uses the text after
    the tag, without trailing punctuation, as the one label.

    Args:
        prompt: The user prompt (placeholders and tag included or not).

    Returns:
        ``["others", label, ...]`` with characters the mask format reserves removed.
    """
    text = prompt.replace(IMAGE_TOKEN, "").strip()
    singles, multi = _seg_patterns()
    names: list[str] = []
    match = multi.match(text)
    if match:
        # multi_seg_prompt writes "the a, the b and the c": split only where "the " follows, so a
        # single phrase such as "bare land and water" stays whole.
        parts = re.split(r"(?:,\s*|\s+and\s+)(?=the\s)", match.group("targets"), flags=re.IGNORECASE)
        if len(parts) > 1:
            names = [re.sub(r"^the\s+", "", p.strip(), flags=re.IGNORECASE) for p in parts]
    for pattern in singles if not names else ():
        match = pattern.match(text)
        if match:
            names = [match.group("cls")]
            break
    if not names:
        tag = find_task_tag(text)
        rest = text.split(tag, 1)[1] if tag else text
        names = [rest.strip().rstrip("?.!")]
    cleaned = []
    for name in names:
        name = " ".join("".join(c for c in name if c not in FORBIDDEN_LABEL_CHARS).split())
        if name and name != BACKGROUND and name not in cleaned:
            cleaned.append(name)
    return [BACKGROUND, *cleaned]
