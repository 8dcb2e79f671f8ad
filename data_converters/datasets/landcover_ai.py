"""LandCover.ai v1: 41 aerial orthophotos of Poland (25/50 cm) cut into 10,674 tiles of 512 x 512 px.

Link: https://landcover.ai.linuxpolska.com/
Citation: Boguszewski et al., "LandCover.ai: Dataset for Automatic Mapping of Buildings, Woodlands,
Water and Roads from Aerial Imagery", CVPR Workshops 2021.

The download ships ``images/*.tif``, ``masks/*.tif``, ``split.py`` and ``train.txt``/``val.txt``/
``test.txt``; running its ``split.py`` writes the 512 x 512 tiles to ``output/`` as
``<name>.jpg`` + ``<name>_m.png`` (the split files list ``<name>``). We convert those tiles, the
dataset's own practice. Mask values: 0 background, 1 building, 2 woodland, 3 water, 4 road.
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, Skip, slug
from data_converters.families.semantic_seg import LabelFormat, SegItem, semantic_segmentation

CLASSES = ("building", "woodland", "water", "road")
FORMAT = LabelFormat.index(CLASSES, {0: None, 1: "building", 2: "woodland", 3: "water", 4: "road"})


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    listing = ctx.src / f"{ctx.split}.txt"
    for line in listing.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if not name:
            continue
        image = ctx.src / "output" / f"{name}.jpg"
        label = ctx.src / "output" / f"{name}_m.png"
        if not image.is_file():
            yield Skip("missing image", str(image))
        elif not label.is_file():
            yield Skip("missing label", str(label))
        else:
            yield SegItem(slug(name), image, label)


CONVERTER = semantic_segmentation(
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
    splits=("train", "val", "test"),
    required=lambda split: (f"{split}.txt", "output/"),
    fmt=FORMAT,
    items=items,
    notes="Uses the 512x512 tiles split.py writes to output/ (run it first); 0 = background -> others.",
)
