"""RRSIS-D: referring remote-sensing image segmentation, 17,402 DIOR-RSVG images (800 x 800), SAM masks.

Link: https://github.com/Lsan2401/RMSIN
Citation: Liu, Ma, Ma, Shi, Fu and Xie, "Rotated Multi-Scale Interaction Network for Referring Remote
Sensing Image Segmentation", CVPR 2024.

RefCOCO-style: ``rrsisd/instances.json`` (COCO, masks as RLE) and ``rrsisd/refs(unc).p`` (refs with
``split`` train/val/test and several sentences each, expressions from DIOR-RSVG); images under
``images/rrsisd/JPEGImages/``. One ``[SEG]`` record per sentence.
"""

from data_converters.base import DatasetCard
from data_converters.families.referring_seg import refcoco_style

CARD = DatasetCard(
    name="rrsis-d",
    title="RRSIS-D",
    url="https://github.com/Lsan2401/RMSIN",
    citation=(
        "@inproceedings{liu2024rotated, title={Rotated Multi-Scale Interaction Network for Referring Remote "
        "Sensing Image Segmentation}, author={Liu, Sihan and Ma, Yiwei and Zhang, Xiaoqing and Wang, Haowei and "
        "Ji, Jiayi and Sun, Xiaoshuai and Ji, Rongrong}, booktitle={CVPR}, pages={26658--26668}, year={2024}}"
    ),
    layout="""\
<src>/
  rrsisd/instances.json        (COCO: images, annotations[segmentation = RLE], categories)
  rrsisd/refs(unc).p           (RefCOCO refs: ref_id, ann_id, image_id, split, sentences[raw/sent])
   or rrsisd/refs(unc).json    (the same list as JSON)
  images/rrsisd/JPEGImages/00001.jpg ...   (800x800)
""",
    notes="One record per sentence; answer labelled by the COCO category; refs pickle read data-only.",
)

CONVERTER = refcoco_style(
    CARD,
    instances_file="rrsisd/instances.json",
    refs_files=("rrsisd/refs(unc).json", "rrsisd/refs(unc).p"),
    image_dir="images/rrsisd/JPEGImages",
    splits=("train", "val", "test"),
)
