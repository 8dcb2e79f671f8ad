"""RSICD: remote sensing image captioning, 10,921 images of 224 x 224 px, five sentences each.

Link: https://github.com/201528014227051/RSICD_optimal
Citation: Lu, Wang, Zheng and Li, "Exploring models and data for remote sensing image caption
generation", IEEE TGRS 56(4), 2018.
"""

from data_converters.base import DatasetCard
from data_converters.families.captions import karpathy_json

CARD = DatasetCard(
    name="rsicd",
    title="RSICD",
    url="https://github.com/201528014227051/RSICD_optimal",
    citation=(
        "@article{lu2018exploring, title={Exploring models and data for remote sensing image caption "
        "generation}, author={Lu, Xiaoqiang and Wang, Binqiang and Zheng, Xiangtao and Li, Xuelong}, "
        "journal={IEEE TGRS}, volume={56}, number={4}, pages={2183--2195}, year={2018}}"
    ),
    layout="""\
<src>/
  dataset_rsicd.json   ({"images": [{"filename", "imgid", "split", "sentences": [{"raw", ...}]}]})
  RSICD_images/airport_1.jpg ...   (224x224 RGB JPEG)
""",
)

CONVERTER = karpathy_json(
    CARD,
    json_file="dataset_rsicd.json",
    image_dir="RSICD_images",
    splits=("train", "val", "test"),
)
