"""OPT-RSVG: visual grounding, 25,452 optical images and 48,952 image-expression pairs, 14 classes.

Link: https://github.com/like413/OPT-RSVG
Citation: Li et al., "Language-guided progressive attention for visual grounding in remote sensing
images", IEEE TGRS 62, 2024.
"""

from data_converters.base import DatasetCard
from data_converters.families.grounding_voc import voc_grounding

CARD = DatasetCard(
    name="opt-rsvg",
    title="OPT-RSVG",
    url="https://github.com/like413/OPT-RSVG",
    citation=(
        "@article{li2024language, title={Language-guided progressive attention for visual grounding in "
        "remote sensing images}, author={Li, Ke and Wang, Di and Xu, Haojie and Zhong, Haodi and Wang, "
        "Cong}, journal={IEEE TGRS}, volume={62}, year={2024}}"
    ),
    layout="""\
<src>/            (the extracted OPT-RSVG folder: Image.zip, Annotations.zip, split.zip unpacked)
  Annotations/<id>.xml   (VOC XML: <filename>, <size>, <object><name><bndbox><description>)
  Image/<id>.jpg         (RGB JPEG, sizes vary)
  split/train.txt val.txt test.txt   (global object indices over sorted XML files)
""",
    notes="Boxes: VOC xmin/ymin/xmax/ymax pixels, used as-is; image size read from each image file.",
)

CONVERTER = voc_grounding(CARD, ann_dir="Annotations", img_dir="Image", split_file="split/{split}.txt")
