"""LoveDA: land-cover domain-adaptive semantic segmentation, 5,987 images of 1024 x 1024 px (0.3 m).

Link: https://github.com/Junjue-Wang/LoveDA (Zenodo record 5706578: Train.zip, Val.zip, Test.zip)
Citation: Wang, Zheng, Ma, Lu and Zhong, "LoveDA: A Remote Sensing Land-Cover Dataset for Domain
Adaptive Semantic Segmentation", NeurIPS Datasets and Benchmarks 2021.

Masks are index PNGs: 0 no-data, 1 background, 2 building, 3 road, 4 water, 5 barren, 6 forest,
7 agriculture. No-data (0) is ignored (255), as mmseg's ``reduce_zero_label`` does; background
becomes ``"others"``, a scored class (mmseg's ``background``). Images are kept whole (1024 px).
The Test split ships without masks and is not converted.
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.families.semantic_seg import (
    IGNORE,
    LabelFormat,
    SegItem,
    paired_items,
    semantic_segmentation,
)

CLASSES = ("building", "road", "water", "barren", "forest", "agriculture")
FORMAT = LabelFormat.index(
    CLASSES,
    {0: IGNORE, 1: None, 2: "building", 3: "road", 4: "water", 5: "barren", 6: "forest", 7: "agriculture"},
)
FOLDERS = {"train": "Train", "val": "Val"}
DOMAINS = ("Urban", "Rural")


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    base = ctx.src / FOLDERS[ctx.split]
    for domain in DOMAINS:
        if not (base / domain).is_dir():
            yield Skip("missing domain folder", str(base / domain))
            continue
        yield from paired_items(
            base / domain / "images_png",
            base / domain / "masks_png",
            lambda p: p.name,
            (".png",),
            prefix=f"{domain.lower()}_",
        )


CARD = DatasetCard(
    name="loveda",
    title="LoveDA",
    url="https://github.com/Junjue-Wang/LoveDA",
    citation=(
        "@inproceedings{wang2021loveda, title={LoveDA: A Remote Sensing Land-Cover Dataset for Domain Adaptive "
        "Semantic Segmentation}, author={Wang, Junjue and Zheng, Zhuo and Ma, Ailong and Lu, Xiaoyan and Zhong, "
        "Yanfei}, booktitle={NeurIPS Datasets and Benchmarks}, year={2021}}"
    ),
    layout="""\
<src>/
  Train/Urban/images_png/1366.png ...   Train/Urban/masks_png/1366.png ...   (index PNG 0..7)
  Train/Rural/images_png/ ...           Train/Rural/masks_png/ ...
  Val/Urban/... Val/Rural/...           (same structure)
""",
    notes="1024x1024 images kept whole; no-data (0) -> 255 (ignored, mmseg reduce_zero_label); background (1) -> others.",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=lambda split: (f"{FOLDERS[split]}/",),
    fmt=FORMAT,
    items=items,
)
