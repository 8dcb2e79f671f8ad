"""RSVQA-HR: visual question answering on 10,659 USGS aerial images of 512 x 512 px (15 cm).

Link: https://rsvqa.sylvainlobry.com/ (Zenodo record 6344367)
Citation: Lobry, Marcos, Murray and Tuia, "RSVQA: Visual question answering for remote sensing
data", IEEE TGRS 58(12), 2020.
"""

from data_converters.base import DatasetCard
from data_converters.families.vqa_json import RSVQA_CITATION, rsvqa

CARD = DatasetCard(
    name="rsvqa-hr",
    title="RSVQA-HR",
    url="https://rsvqa.sylvainlobry.com/",
    citation=RSVQA_CITATION,
    layout="""\
<src>/
  USGS_split_{train,val,test,test_phili}_questions.json
  USGS_split_{train,val,test,test_phili}_answers.json
  USGS_split_{train,val,test,test_phili}_images.json
  Data/<img_id>.tif   (512x512 RGB)
""",
    notes="Question types: presence, count, comp (-> comparison), area. test_phili is test set 2 (Philadelphia).",
)

CONVERTER = rsvqa(CARD, prefix="USGS", image_dir="Data", splits=("train", "val", "test", "test_phili"))
