"""UAVid: semantic segmentation of oblique UAV video frames, 4K (3840 x 2160 or 4096 x 2160), 8 classes.

Link: https://uavid.nl/
Citation: Lyu, Vosselman, Xia, Yilmaz and Yang, "UAVid: A semantic segmentation dataset for UAV
imagery", ISPRS Journal of Photogrammetry and Remote Sensing 165, 2020.

Labels are colour-coded RGB PNGs per frame (``seqN/Labels/000000.png``). "Background clutter" (black)
becomes ``"others"``, a scored class as in the UAVid benchmark's 8-class mIoU; colours outside the
palette are ignored (255). Frames are cut into 1024 x 1024 crops (last row/column aligned to the border),
the patch size UAVid baselines such as UNetFormer train on. The test split has no public labels.
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.families.semantic_seg import LabelFormat, SegItem, paired_items, semantic_segmentation

CLASSES = ("building", "road", "tree", "low vegetation", "moving car", "static car", "human")
FORMAT = LabelFormat.palette(
    CLASSES,
    {
        (0, 0, 0): None,
        (128, 0, 0): "building",
        (128, 64, 128): "road",
        (0, 128, 0): "tree",
        (128, 128, 0): "low vegetation",
        (64, 0, 128): "moving car",
        (192, 0, 192): "static car",
        (64, 64, 0): "human",
    },
)


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    base = ctx.src / f"uavid_{ctx.split}"
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        if not (seq / "Images").is_dir():
            yield Skip("missing Images folder", str(seq / "Images"))
            continue
        yield from paired_items(
            seq / "Images", seq / "Labels", lambda p: p.name, (".png",), prefix=f"{seq.name}_"
        )


CARD = DatasetCard(
    name="uavid",
    title="UAVid",
    url="https://uavid.nl/",
    citation=(
        "@article{lyu2020uavid, title={UAVid: A semantic segmentation dataset for UAV imagery}, author={Lyu, Ye "
        "and Vosselman, George and Xia, Gui-Song and Yilmaz, Alper and Yang, Michael Ying}, journal={ISPRS "
        "Journal of Photogrammetry and Remote Sensing}, volume={165}, pages={108--119}, year={2020}}"
    ),
    layout="""\
<src>/
  uavid_train/seq1/Images/000000.png ...   uavid_train/seq1/Labels/000000.png ...  (RGB colour labels)
  uavid_val/seq16/Images/ ...              uavid_val/seq16/Labels/ ...
""",
    notes="1024x1024 crops, last crop aligned to the border; background clutter -> others (scored).",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=lambda split: (f"uavid_{split}/",),
    fmt=FORMAT,
    items=items,
    crop=1024,
)
