"""VDD (Varied Drone Dataset): 400 drone images of 4000 x 3000 px, 7 classes, varied scenes and angles.

Link: https://github.com/RussRobin/VDD (data: huggingface.co/datasets/RussRobin/VDD)
Citation: Cai, Jin, Hou, Guo, Wu and Yang, "VDD: Varied Drone Dataset for Semantic Segmentation",
Journal of Visual Communication and Image Representation, 2025 (arXiv:2305.13608).

``{train,val,test}/src/*.JPG`` with ``{split}/gt/*.png`` (index PNG: 0 other, 1 wall, 2 road,
3 vegetation, 4 vehicle, 5 roof, 6 water). "Other" becomes ``"others"``, one of the seven scored
classes; values outside 0..6 are ignored (255). Images are cut into
1024 x 1024 crops (last row/column aligned to the border). The layout is UDD5's, so the item
listing and required folders are :mod:`~data_converters.datasets.udd5`'s.
"""

from data_converters.base import DatasetCard
from data_converters.datasets.udd5 import items, required
from data_converters.families.semantic_seg import LabelFormat, semantic_segmentation

CLASSES = ("wall", "road", "vegetation", "vehicle", "roof", "water")
FORMAT = LabelFormat.index(CLASSES, {0: None, **{i + 1: c for i, c in enumerate(CLASSES)}})

CARD = DatasetCard(
    name="vdd",
    title="VDD: Varied Drone Dataset",
    url="https://github.com/RussRobin/VDD",
    citation=(
        "@article{cai2025vdd, title={VDD: Varied Drone Dataset for Semantic Segmentation}, author={Cai, Wenxiao "
        "and Jin, Ke and Hou, Jinyan and Guo, Cong and Wu, Letian and Yang, Wankou}, journal={Journal of Visual "
        "Communication and Image Representation}, year={2025}}"
    ),
    layout="""\
<src>/            (the VDD/ folder)
  train/src/DJI_0001.JPG ...   train/gt/DJI_0001.png ...   (index PNG 0..6)
  val/src/ ... val/gt/ ...     test/src/ ... test/gt/ ...
""",
    notes="1024x1024 crops, last crop aligned to the border; class 0 'other' -> others (scored).",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val", "test"),
    required=required,
    fmt=FORMAT,
    items=items,
    crop=1024,
)
