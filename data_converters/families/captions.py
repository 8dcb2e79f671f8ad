"""Image captioning from Karpathy-style JSON (RSICD ``dataset_rsicd.json``, RSITMD ``dataset_RSITMD.json``).

Native format::

    {"images": [{"filename": "airport_1.jpg", "imgid": 0, "split": "train",
                 "sentences": [{"raw": "many aircraft are parked ...", "tokens": [...], ...}, ...]}, ...],
     "dataset": "rsicd"}

Design choices:
- ``train`` yields one record per reference sentence (answer = that sentence), the usual captioning
  practice; ``val``/``test`` yield one record per image whose answer is the first sentence. Every
  record keeps all sentences of the image in ``targets.references`` for scoring.
- Sentences are whitespace-normalised and the detached final period (``"... trees ."``) is
  re-attached; duplicates within an image are dropped (RSICD repeats sentences to reach five).
- The prompt is RSUniVLM's canonical ``[CAP] Describe this image briefly.``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    ImageInfo,
    Record,
    Skip,
    make_record,
    read_json,
    slug,
)
from univlm.data.templates import cap_prompt


def clean_sentence(text: str) -> str:
    """Collapse whitespace and re-attach a detached final period or comma."""
    words = " ".join(str(text).split())
    for mark in (" .", " ,"):
        words = words.replace(mark, mark.strip())
    return words


def unique_sentences(sentences: Sequence[str]) -> list[str]:
    """Cleaned, non-empty sentences with duplicates removed, in order."""
    out: list[str] = []
    for s in sentences:
        c = clean_sentence(s)
        if c and c not in out:
            out.append(c)
    return out


def caption_records(
    *,
    name: str,
    ctx: ConvertContext,
    key: str,
    info: ImageInfo,
    references: Sequence[str],
    per_sentence: bool,
) -> Iterator[Record]:
    """``[CAP]`` records of one image: one per sentence when ``per_sentence``, else one."""
    answers = list(references) if per_sentence else list(references[:1])
    for i, answer in enumerate(answers):
        suffix = f"-{i}" if per_sentence else ""
        yield make_record(
            rid=f"{name}-{ctx.split}-{key}{suffix}-cap",
            images=[info.rel],
            task="CAP",
            prompt=cap_prompt(),
            answer=answer,
            source=f"{name}/{ctx.split}",
            targets={"references": list(references)},
        )


def read_karpathy_images(path: Path) -> list[dict[str, Any]]:
    """The ``images`` list of a Karpathy-style caption JSON (also LEVIR-CC's change captions).

    Raises:
        ValueError: Naming the file when it is not valid JSON or has no ``images`` list.
    """
    data = read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise ValueError(f"{path}: expected an object with an 'images' list")
    return images


def karpathy_json(card: DatasetCard, *, json_file: str, image_dir: str, splits: tuple[str, ...]) -> Converter:
    """Build the converter of a Karpathy-style captioning dataset.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        json_file: Annotation JSON under ``--src``.
        image_dir: Image folder under ``--src``.
        splits: Values of the ``split`` field the dataset uses.

    Returns:
        The :class:`Converter`.
    """
    name = card.name

    def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
        path = ctx.src / json_file
        for n, entry in enumerate(read_karpathy_images(path)):
            if entry.get("split") != ctx.split:
                continue
            filename = entry.get("filename")
            if not filename:
                yield Skip("entry without filename", f"{path.name}#images[{n}]")
                continue
            refs = unique_sentences([s.get("raw", "") for s in entry.get("sentences", [])])
            if not refs:
                yield Skip("image without sentences", f"{path.name}#{filename}")
                continue
            info = ctx.image(ctx.src / image_dir / filename)
            if isinstance(info, Skip):
                yield info
                continue
            key = slug(str(entry.get("imgid", filename)))
            yield from caption_records(
                name=name, ctx=ctx, key=key, info=info, references=refs, per_sentence=ctx.split == "train"
            )

    return Converter(card, tasks=("CAP",), splits=splits, required=(json_file, f"{image_dir}/"), parse=parse)
