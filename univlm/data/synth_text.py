"""Scene text of the synthetic dataset: region names, referring expressions, object descriptions.

Design choices:
- Referring expressions are generated from the scene's vector objects and kept only when they pick
  out the target alone (colour, size rank, extreme position, region), so every VG answer is unique.
- Region names follow a 3 x 3 split of the image ("upper left" ... "lower right"), the vocabulary
  of RSVG-style captions; prepositions follow English usage ("at the top", "on the left").
- Every function is pure (no randomness): the record builders in
  :mod:`univlm.data.synth_records` choose among the phrasings with the scene's own generator.
"""

from __future__ import annotations

from collections.abc import Sequence

from univlm.data.synth_scene import NOUNS, Instance

__all__ = ["article", "describe", "noun", "number_word", "region_name", "unique_expressions", "where"]

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_REGIONS = (("upper left", "top", "upper right"), ("left", "center", "right"), ("lower left", "bottom", "lower right"))


def number_word(n: int) -> str:
    """"one" .. "ten" for small counts, digits above."""
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def noun(cls: str, n: int = 1) -> str:
    """The noun of a scene class, singular for ``n == 1`` and plural otherwise."""
    return NOUNS[cls][0 if n == 1 else 1]


def article(word: str) -> str:
    """The indefinite article for ``word`` ("a" or "an")."""
    return "an" if word[0] in "aeiou" else "a"


def region_name(box: Sequence[float], size: int) -> str:
    """3 x 3 region ("upper left", "center", ...) holding the centre of a pixel box."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    col = min(2, int(3 * cx / size))
    row = min(2, int(3 * cy / size))
    return _REGIONS[row][col]


def where(box: Sequence[float], size: int) -> str:
    """Region phrase with its preposition: "in the upper left", "at the top", "on the left"."""
    region = region_name(box, size)
    if region in ("top", "bottom"):
        return f"at the {region}"
    if region in ("left", "right"):
        return f"on the {region}"
    return f"in the {region}"


def unique_expressions(target: Instance, instances: Sequence[Instance], size: int, verbose: bool) -> list[str]:
    """Referring expressions that pick out ``target`` alone among ``instances``, simplest first."""
    same = [i for i in instances if i.cls == target.cls]
    others = [i for i in same if i is not target]
    name = noun(target.cls)
    out: list[str] = []
    if not others:
        return [f"the {name}"]
    if target.cls == "building" and all(o.color_name != target.color_name for o in others):
        out.append(f"the building with the {target.color_name} roof")
    areas = sorted((o.area for o in others), reverse=True)
    if target.area >= 1.3 * areas[0]:
        out.append(f"the largest {name}")
    if verbose and target.area * 1.3 <= areas[-1]:
        out.append(f"the smallest {name}")
    pair = len(same) == 2
    if target.box[2] <= min(o.box[0] for o in others):
        out.append(f"the {name} on the left" if pair else f"the leftmost {name}")
    if target.box[0] >= max(o.box[2] for o in others):
        out.append(f"the {name} on the right" if pair else f"the rightmost {name}")
    if target.box[3] <= min(o.box[1] for o in others):
        out.append(f"the {name} at the top" if pair else f"the topmost {name}")
    if target.box[1] >= max(o.box[3] for o in others):
        out.append(f"the {name} at the bottom" if pair else f"the bottommost {name}")
    if verbose and target.cls == "building":
        region = region_name(target.box, size)
        rivals = [o for o in others if o.color_name == target.color_name and region_name(o.box, size) == region]
        if not rivals and any(o.color_name == target.color_name for o in others):
            out.append(f"the {target.color_name} roof in the {region}")
    return out


def describe(inst: Instance, size: int, verbose: bool) -> str:
    """Non-unique description of one object for REF answers."""
    if inst.cls == "building":
        text = f"a building with a {inst.color_name} roof"
    elif inst.cls in ("vegetation", "bare land"):
        text = f"a patch of {inst.cls}"
    else:
        text = f"a {noun(inst.cls)}"
    return f"{text} {where(inst.box, size)}" if verbose else text

