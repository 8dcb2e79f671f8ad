"""WHU-CD (WHU Building change detection): Christchurch 2012/2016 aerial pairs (0.3 m), building changes.

Link: https://gpcv.whu.edu.cn/data/building_dataset.html
Citation: Ji, Wei and Lu, "Fully Convolutional Networks for Multisource Building Extraction From an
Open Aerial and Satellite Imagery Data Set", IEEE TGRS 57(1), 2019.

Most users take the 256 x 256 tiling distributed with BIT/ChangeFormer (``WHU-CD-256``): ``A/``,
``B/``, ``label/`` (PNG, 0 unchanged / 255 changed; 1 also accepted) and ``list/{train,val,test}.txt``
(one file name per line). That layout is what this converter reads.
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.families.change import ChangeItem, abl_items, change_pairs
from data_converters.families.semantic_seg import LabelFormat

CLASSES = ("building",)
LABELS = LabelFormat.index(CLASSES, {0: None, 1: "building", 255: "building"})


def items(ctx: ConvertContext) -> Iterator[ChangeItem | Skip]:
    listing = ctx.src / "list" / f"{ctx.split}.txt"
    names = [line.split()[0] for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    yield from abl_items(ctx.src, names)


CARD = DatasetCard(
    name="whu-cd",
    title="WHU-CD (building change detection)",
    url="https://gpcv.whu.edu.cn/data/building_dataset.html",
    citation=(
        "@article{ji2019fully, title={Fully Convolutional Networks for Multisource Building Extraction From an "
        "Open Aerial and Satellite Imagery Data Set}, author={Ji, Shunping and Wei, Shiqing and Lu, Meng}, "
        "journal={IEEE TGRS}, volume={57}, number={1}, pages={574--586}, year={2019}}"
    ),
    layout="""\
<src>/            (the WHU-CD-256/ folder)
  A/whu_0001.png ...   B/whu_0001.png ...   label/whu_0001.png ...   (256x256; label 0 / 255)
  list/train.txt list/val.txt list/test.txt                        (file names)
""",
    notes="BIT/ChangeFormer 256x256 tiling; one [SEG] change-detection record per pair (class building).",
)

CONVERTER = change_pairs(
    CARD,
    splits=("train", "val", "test"),
    required=lambda split: ("A/", "B/", "label/", f"list/{split}.txt"),
    labels=LABELS,
    items=items,
)
