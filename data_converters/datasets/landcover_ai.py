"""LandCover.ai v1: 41 aerial orthophotos of Poland (25/50 cm) cut into 10,674 tiles of 512 x 512 px.

Link: https://landcover.ai.linuxpolska.com/
Citation: Boguszewski et al., "LandCover.ai: Dataset for Automatic Mapping of Buildings, Woodlands,
Water and Roads from Aerial Imagery", CVPR Workshops 2021.

The download ships ``images/*.tif``, ``masks/*.tif``, ``split.py`` and ``train.txt``/``val.txt``/
``test.txt``; running its ``split.py`` writes the 512 x 512 tiles to ``output/`` as
``<name>.jpg`` + ``<name>_m.png`` (the split files list ``<name>``). We convert those tiles, the
dataset's own practice. Mask values: 0 background, 1 building, 2 woodland, 3 water, 4 road; background
becomes ``"others"``, scored as the dataset paper's fifth class; other values are ignored (255).
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip, slug
from data_converters.families.semantic_seg import (
    LabelFormat,
    SegItem,
    checked_item,
    semantic_segmentation,
    split_names,
)

CLASSES = ("building", "woodland", "water", "road")
FORMAT = LabelFormat.index(CLASSES, {0: None, 1: "building", 2: "woodland", 3: "water", 4: "road"})


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    tiles = ctx.src / "output"
    for name in split_names(ctx.src / f"{ctx.split}.txt"):
        yield checked_item(slug(name), tiles / f"{name}.jpg", tiles / f"{name}_m.png")


CARD = DatasetCard(
    name="landcover-ai",
    title="LandCover.ai",
    url="https://landcover.ai.linuxpolska.com/",
    citation=(
        "@inproceedings{boguszewski2021landcover, title={LandCover.ai: Dataset for Automatic Mapping of "
        "Buildings, Woodlands, Water and Roads from Aerial Imagery}, author={Boguszewski, Adrian and Batorski, "
        "Dominik and Ziemba-Jankowska, Natalia and Dziedzic, Tomasz and Zambrzycka, Anna}, booktitle={CVPR "
        "Workshops}, pages={1102--1110}, year={2021}}"
    ),
    layout="""\
<src>/
  images/M-33-20-D-c-4-2.tif ...   masks/M-33-20-D-c-4-2.tif ...   split.py
  train.txt val.txt test.txt        (tile names, e.g. M-33-20-D-c-4-2_0)
  output/M-33-20-D-c-4-2_0.jpg  output/M-33-20-D-c-4-2_0_m.png ...   (written by `python split.py`)
""",
    notes="Uses the 512x512 tiles split.py writes to output/ (run it first); 0 = background -> others (scored).",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val", "test"),
    required=lambda split: (f"{split}.txt", "output/"),
    fmt=FORMAT,
    items=items,
)
