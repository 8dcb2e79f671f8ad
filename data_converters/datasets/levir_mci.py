"""LEVIR-MCI: 10,077 bi-temporal 256 x 256 pairs (0.5 m) with road/building change masks and 5 captions each.

Link: https://github.com/Chen-Yang-Liu/Change-Agent (data: huggingface.co/datasets/lcybuaa/LEVIR-MCI)
Citation: Liu, Chen, Zhang, Qi, Zou and Shi, "Change-Agent: Towards Interactive Comprehensive Remote
Sensing Change Interpretation and Analysis", IEEE TGRS 2024.

Layout: ``images/{train,val,test}/{A,B,label}/<split>_000001.png`` and ``LevirCCcaptions.json``
(LEVIR-CC's Karpathy-style file: ``images[*].filename``, ``split``, ``sentences[*].raw``). Change
masks are 3-channel PNGs read like the authors' loader (``Multi_change/data/LEVIR_MCI.py``): first
channel, 128 = road, 255 = building (the already-mapped values 1 = road, 2 = building also work).
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.families.captions import read_karpathy_images
from data_converters.families.change import ChangeItem, abl_items, change_pairs
from data_converters.families.semantic_seg import LabelFormat

CLASSES = ("road", "building")
LABELS = LabelFormat.index(CLASSES, {0: None, 1: "road", 2: "building", 128: "road", 255: "building"})
CAPTIONS = "LevirCCcaptions.json"


def items(ctx: ConvertContext) -> Iterator[ChangeItem | Skip]:
    captions: dict[str, list[str]] = {}
    for entry in read_karpathy_images(ctx.src / CAPTIONS):
        if entry.get("split") == ctx.split and entry.get("filename"):
            captions[entry["filename"]] = [s.get("raw", "") for s in entry.get("sentences", [])]
    base = ctx.src / "images" / ctx.split
    names = sorted(p.name for p in (base / "A").iterdir() if p.suffix.lower() == ".png")
    for name in sorted(set(captions) - set(names)):
        yield Skip("missing image", str(base / "A" / name))
    yield from abl_items(base, names, captions)


CARD = DatasetCard(
    name="levir-mci",
    title="LEVIR-MCI",
    url="https://github.com/Chen-Yang-Liu/Change-Agent",
    citation=(
        "@article{liu2024changeagent, title={Change-Agent: Towards Interactive Comprehensive Remote Sensing Change "
        "Interpretation and Analysis}, author={Liu, Chenyang and Chen, Keyan and Zhang, Haotian and Qi, Zipeng "
        "and Zou, Zhengxia and Shi, Zhenwei}, journal={IEEE TGRS}, year={2024}}"
    ),
    layout="""\
<src>/            (the LEVIR-MCI-dataset/ folder)
  LevirCCcaptions.json
  images/train/A/train_000001.png ...  images/train/B/...  images/train/label/...  (256x256 PNG)
  images/val/{A,B,label}/ ...          images/test/{A,B,label}/ ...
""",
    notes="[SEG] change detection per class (road, building) incl. unchanged pairs; [CCD] from LevirCCcaptions.json.",
)

CONVERTER = change_pairs(
    CARD,
    splits=("train", "val", "test"),
    required=lambda split: (CAPTIONS, f"images/{split}/A/", f"images/{split}/B/", f"images/{split}/label/"),
    labels=LABELS,
    items=items,
    tasks=("SEG", "CCD"),
)
