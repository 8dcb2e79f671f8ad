"""RSVQA-HR: visual question answering on 10,659 USGS aerial images of 512 x 512 px (15 cm).

Link: https://rsvqa.sylvainlobry.com/ (Zenodo record 6344367)
Citation: Lobry, Marcos, Murray and Tuia, "RSVQA: Visual question answering for remote sensing
data", IEEE TGRS 58(12), 2020.
"""

from data_converters.families.vqa_json import rsvqa

CONVERTER = rsvqa(
    name="rsvqa-hr",
    title="RSVQA-HR",
    url="https://rsvqa.sylvainlobry.com/",
    citation=(
        "@article{lobry2020rsvqa, title={RSVQA: Visual question answering for remote sensing data}, "
        "author={Lobry, Sylvain and Marcos, Diego and Murray, Jesse and Tuia, Devis}, journal={IEEE TGRS}, "
        "volume={58}, number={12}, pages={8555--8566}, year={2020}}"
    ),
    prefix="USGS",
    image_dir="Data",
    splits=("train", "val", "test", "test_phili"),
    layout="""\
<src>/
  USGS_split_{train,val,test,test_phili}_questions.json
  USGS_split_{train,val,test,test_phili}_answers.json
  USGS_split_{train,val,test,test_phili}_images.json
  Data/<img_id>.tif   (512x512 RGB)
""",
    notes="Question types: presence, count, comp (-> comparison), area. test_phili is test set 2 (Philadelphia).",
)
