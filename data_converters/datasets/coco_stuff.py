"""COCO-Stuff 164k: COCO 2017 images with dense pixel labels for 80 thing + 91 stuff classes.

Link: https://github.com/nightrome/cocostuff
Citation: Caesar, Uijlings and Ferrari, "COCO-Stuff: Thing and Stuff Classes in Context", CVPR 2018.

``stuffthingmaps_trainval2017.zip`` holds index PNGs where value ``v`` is COCO-Stuff class id
``v + 1`` (names from cocostuff ``labels.txt``) and 255 is unlabelled. As in mmseg's
``coco_stuff164k`` converter, unlabelled pixels and the 11 ids COCO 2017 never uses are ignored (255),
so 171 classes are scored and ``"others"`` is not one of them. Laid out as
mmsegmentation expects: ``images/{train2017,val2017}/*.jpg`` and ``annotations/{...}/*.png``.
Images are kept whole. Not remote sensing, but part of RSUniVLM's general segmentation mix.
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

# labels.txt ids 1..182 in order (ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91 are unused in COCO 2017).
CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "mirror", "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush", "banner", "blanket",
    "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet", "ceiling-other",
    "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff", "dirt",
    "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood",
    "flower", "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill",
    "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net",
    "paper", "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing",
    "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other",
    "skyscraper", "snow", "solid-other", "stairs", "stone", "straw", "structural-other", "table", "tent",
    "textile-other", "towel", "tree", "vegetable", "wall-brick", "wall-concrete", "wall-other", "wall-panel",
    "wall-stone", "wall-tile", "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip
UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91)
FORMAT = LabelFormat.index(
    CLASSES, {v: (IGNORE if v + 1 in UNUSED_IDS else c) for v, c in enumerate(CLASSES)}
)
FOLDERS = {"train": "train2017", "val": "val2017"}


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    folder = FOLDERS[ctx.split]
    yield from paired_items(
        ctx.src / "images" / folder, ctx.src / "annotations" / folder, lambda p: f"{p.stem}.png", (".jpg",)
    )


CARD = DatasetCard(
    name="coco-stuff",
    title="COCO-Stuff 164k",
    url="https://github.com/nightrome/cocostuff",
    citation=(
        "@inproceedings{caesar2018coco, title={COCO-Stuff: Thing and Stuff Classes in Context}, author={Caesar, "
        "Holger and Uijlings, Jasper and Ferrari, Vittorio}, booktitle={CVPR}, pages={1209--1218}, year={2018}}"
    ),
    layout="""\
<src>/
  images/train2017/000000000009.jpg ...        images/val2017/ ...        (COCO 2017 images)
  annotations/train2017/000000000009.png ...   annotations/val2017/ ...   (stuffthingmaps, 255 = unlabelled)
""",
    notes="Index value v = class id v+1 of labels.txt; 255 and unused ids -> 255 (ignored); 171 scored classes.",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=lambda split: (f"images/{FOLDERS[split]}/", f"annotations/{FOLDERS[split]}/"),
    fmt=FORMAT,
    items=items,
)
