"""RSITMD: remote sensing image-text matching / captioning, 4,743 images of 256 x 256 px.

Link: https://github.com/xiaoyuan1996/AMFMN/tree/master/RSITMD
Citation: Yuan et al., "Exploring a fine-grained multiscale method for cross-modal remote sensing
image retrieval", IEEE TGRS 60, 2022.
"""

from data_converters.base import DatasetCard
from data_converters.families.captions import karpathy_json

CARD = DatasetCard(
    name="rsitmd",
    title="RSITMD",
    url="https://github.com/xiaoyuan1996/AMFMN/tree/master/RSITMD",
    citation=(
        "@article{yuan2022exploring, title={Exploring a fine-grained multiscale method for cross-modal "
        "remote sensing image retrieval}, author={Yuan, Zhiqiang and Zhang, Wenkai and Fu, Kun and Li, "
        "Xuan and Deng, Chubo and Wang, Hongqi and Sun, Xian}, journal={IEEE TGRS}, volume={60}, year={2022}}"
    ),
    layout="""\
<src>/
  dataset_RSITMD.json   ({"images": [{"filename", "imgid", "split", "sentences": [{"raw", ...}]}]})
  images/airport_1.tif ...   (256x256 RGB)
""",
)

CONVERTER = karpathy_json(CARD, json_file="dataset_RSITMD.json", image_dir="images", splits=("train", "test"))
