"""OpenEarthMap: global high-resolution land-cover mapping, 5,000 images (0.25-0.5 m) from 97 regions.

Link: https://open-earth-map.org/ (Zenodo record 7223446, ``OpenEarthMap_wo_xBD``)
Citation: Xia, Yokoya, Adriano and Broni-Bediako, "OpenEarthMap: A Benchmark Dataset for Global
High-Resolution Land Cover Mapping", WACV 2023.

Per region: ``<region>/images/<region>_N.tif`` and ``<region>/labels/<region>_N.tif`` (index GeoTIFF,
0 unknown, 1..8 below; unknown is ignored (255), as the benchmark scores the 8 classes only); ``train.txt``/``val.txt``/``test.txt`` list the image file names. Images
(1024 px) are kept whole; anything larger is cut into 1024 crops. Test labels are not public.
``OpenEarthMap_wo_xBD`` lacks the xBD-derived RGB images (their labels are present): until they are
added with the dataset's ``compile_xbd.py`` those items are reported as ``missing image``.
"""

from collections.abc import Iterator
from pathlib import Path

from data_converters.base import ConvertContext, DatasetCard, Skip, slug
from data_converters.families.semantic_seg import (
    IGNORE,
    LabelFormat,
    SegItem,
    checked_item,
    semantic_segmentation,
    split_names,
)

CLASSES = (
    "bareland", "rangeland", "developed space", "road", "tree", "water", "agriculture land", "building",
)  # fmt: skip
FORMAT = LabelFormat.index(CLASSES, {0: IGNORE, **{i + 1: c for i, c in enumerate(CLASSES)}})


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    for name in split_names(ctx.src / f"{ctx.split}.txt"):
        region = ctx.src / name.rsplit("_", 1)[0]
        yield checked_item(slug(Path(name).stem), region / "images" / name, region / "labels" / name)


CARD = DatasetCard(
    name="openearthmap",
    title="OpenEarthMap",
    url="https://open-earth-map.org/",
    citation=(
        "@inproceedings{xia2023openearthmap, title={OpenEarthMap: A Benchmark Dataset for Global High-Resolution "
        "Land Cover Mapping}, author={Xia, Junshi and Yokoya, Naoto and Adriano, Bruno and Broni-Bediako, "
        "Clifford}, booktitle={WACV}, pages={6254--6264}, year={2023}}"
    ),
    layout="""\
<src>/            (the OpenEarthMap_wo_xBD/ folder)
  train.txt val.txt test.txt            (image file names, e.g. aachen_1.tif)
  aachen/images/aachen_1.tif ...        aachen/labels/aachen_1.tif ...   (index GeoTIFF 0..8)
  <region>/ ...
""",
    notes="Images kept whole (1024 px); 0 = unknown -> 255 (ignored); 8 scored classes.",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=lambda split: (f"{split}.txt",),
    fmt=FORMAT,
    items=items,
    crop=1024,
)
