"""UDD5 (Urban Drone Dataset, 5 classes): nadir DJI drone images (4096 x 2160 / 4000 x 3000 px).

Link: https://github.com/MarcWong/UDD
Citation: Chen, Wang, Xu, Chen, Zha, Fu and Zhou, "Large-scale Structure from Motion with Semantic
Constraints of Aerial Images", PRCV 2018.

``train/src/*.JPG`` with ``train/gt/*.png`` (index PNG: 0 vegetation, 1 building, 2 road,
3 vehicle, 4 other), same under ``val/``. "Other" becomes ``"others"``, one of the five scored
classes; values outside 0..4 are ignored (255). Images are cut into
1024 x 1024 crops (last row/column aligned to the border).
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.families.semantic_seg import LabelFormat, SegItem, paired_items, semantic_segmentation

CLASSES = ("vegetation", "building", "road", "vehicle")
FORMAT = LabelFormat.index(CLASSES, {0: "vegetation", 1: "building", 2: "road", 3: "vehicle", 4: None})
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    base = ctx.src / ctx.split
    yield from paired_items(base / "src", base / "gt", lambda p: f"{p.stem}.png", IMAGE_SUFFIXES)


def required(split: str) -> tuple[str, ...]:
    """The folders ``split`` needs under ``--src`` (VDD shares this layout)."""
    return (f"{split}/src/", f"{split}/gt/")


CARD = DatasetCard(
    name="udd5",
    title="UDD5",
    url="https://github.com/MarcWong/UDD",
    citation=(
        "@inproceedings{chen2018large, title={Large-scale Structure from Motion with Semantic Constraints of "
        "Aerial Images}, author={Chen, Yu and Wang, Yao and Lu, Peng and Chen, Yisong and Wang, Guoping}, "
        "booktitle={PRCV}, pages={347--359}, year={2018}}"
    ),
    layout="""\
<src>/            (the UDD5/ folder)
  train/src/DJI_0001.JPG ...   train/gt/DJI_0001.png ...   (index PNG 0..4)
  val/src/ ...                 val/gt/ ...
""",
    notes="1024x1024 crops, last crop aligned to the border; class 4 'other' -> others (scored).",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=required,
    fmt=FORMAT,
    items=items,
    crop=1024,
)
