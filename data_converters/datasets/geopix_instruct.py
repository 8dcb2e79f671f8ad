"""GeoPixInstruct (and SAMRS-derived subsets): instances with text description, box and mask, for GeoPix.

Link: https://github.com/Norman-Ou/GeoPix (annotations: huggingface.co/datasets/Norman-ou/GeoPixInstruct)
Citation: Ou, Hu, Zhang, Chen and Liu, "GeoPix: Multi-Modal Large Language Model for Pixel-level Image
Understanding in Remote Sensing", IEEE GRSM 2025 (arXiv:2501.06828).

Read as COCO JSON per split (``annotations/{split}.json``: ``images``, ``annotations`` with
``segmentation`` as COCO RLE and a ``description`` per instance) with images under ``images/``.
Each image's instances are grouped, up to three per record, into multi-referring ``[SEG]`` records
(``targets.instances``), the optional GeoPix head's format. The public release's exact file names
could not be checked offline; point ``--src`` at a folder arranged as below.
"""

from data_converters.base import DatasetCard
from data_converters.families.referring_seg import multi_referring_coco

CARD = DatasetCard(
    name="geopix-instruct",
    title="GeoPixInstruct",
    url="https://github.com/Norman-Ou/GeoPix",
    citation=(
        "@article{ou2025geopix, title={GeoPix: Multi-Modal Large Language Model for Pixel-level Image "
        "Understanding in Remote Sensing}, author={Ou, Ruizhe and Hu, Yuan and Zhang, Fan and Chen, Jiaxin and "
        "Liu, Yu}, journal={IEEE Geoscience and Remote Sensing Magazine}, year={2025}}"
    ),
    layout="""\
<src>/
  annotations/train.json annotations/val.json annotations/test.json
      (COCO: images[id, file_name, width, height], annotations[id, image_id, segmentation = RLE, description])
  images/P0001_0_0.png ...
""",
    notes="Multi-referring SEG, up to 3 instances per record with distinct descriptions.",
)

CONVERTER = multi_referring_coco(
    CARD,
    annotation_file=lambda split: f"annotations/{split}.json",
    image_dir=lambda split: "images",
    splits=("train", "val", "test"),
)
