"""DIOR-RSVG: visual grounding on DIOR images, 17,402 images of 800 x 800 px, 38,320 expressions.

Link: https://github.com/ZhanYang-nwpu/RSVG-pytorch
Citation: Zhan, Xiong and Yuan, "RSVG: Exploring data and models for visual grounding on remote
sensing data", IEEE TGRS 61, 2023.
"""

from data_converters.base import DatasetCard
from data_converters.families.grounding_voc import voc_grounding

CARD = DatasetCard(
    name="dior-rsvg",
    title="DIOR-RSVG",
    url="https://github.com/ZhanYang-nwpu/RSVG-pytorch",
    citation=(
        "@article{zhan2023rsvg, title={RSVG: Exploring data and models for visual grounding on remote "
        "sensing data}, author={Zhan, Yang and Xiong, Zhitong and Yuan, Yuan}, journal={IEEE TGRS}, "
        "volume={61}, pages={1--13}, year={2023}}"
    ),
    layout="""\
<src>/            (the DIOR_RSVG/ folder)
  Annotations/00001.xml ...   (VOC XML: <filename>, <size>, <object><name><bndbox><description>)
  JPEGImages/00001.jpg ...    (800x800 RGB JPEG)
  train.txt val.txt test.txt  (global object indices, objects counted over sorted XML files)
""",
    notes="Boxes: VOC xmin/ymin/xmax/ymax pixels of the 800x800 image, used as-is (official IoU).",
)

CONVERTER = voc_grounding(CARD, ann_dir="Annotations", img_dir="JPEGImages", split_file="{split}.txt")
