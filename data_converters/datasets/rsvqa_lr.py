"""RSVQA-LR: visual question answering on 772 Sentinel-2 tiles of 256 x 256 px (10 m), ~77k questions.

Link: https://rsvqa.sylvainlobry.com/ (Zenodo record 6344334)
Citation: Lobry, Marcos, Murray and Tuia, "RSVQA: Visual question answering for remote sensing
data", IEEE TGRS 58(12), 2020.
"""

from data_converters.base import DatasetCard
from data_converters.families.vqa_json import RSVQA_CITATION, rsvqa

CARD = DatasetCard(
    name="rsvqa-lr",
    title="RSVQA-LR",
    url="https://rsvqa.sylvainlobry.com/",
    citation=RSVQA_CITATION,
    layout="""\
<src>/
  LR_split_{train,val,test}_questions.json   ({"questions": [{"id","img_id","type","question","answers_ids","active"}]})
  LR_split_{train,val,test}_answers.json     ({"answers": [{"id","question_id","answer","active"}]})
  LR_split_{train,val,test}_images.json      ({"images": [{"id","questions_ids","active"}]})
  Images_LR/<img_id>.tif                     (256x256 RGB)
""",
    notes="Question types: presence, count, comp (-> comparison), rural_urban. Answers verbatim.",
)

CONVERTER = rsvqa(CARD, prefix="LR", image_dir="Images_LR", splits=("train", "val", "test"))
