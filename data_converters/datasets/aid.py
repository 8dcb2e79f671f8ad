"""AID (Aerial Image Dataset): 30 scene classes, 10,000 images of 600 x 600 px (Google Earth).

Link: https://captain-whu.github.io/AID/
Citation: Xia et al., "AID: A benchmark data set for performance evaluation of aerial scene
classification", IEEE TGRS 55(7), 2017.
"""

from data_converters.base import DatasetCard
from data_converters.families.classification import folder_per_class

FOLDERS = (
    "Airport", "BareLand", "BaseballField", "Beach", "Bridge", "Center", "Church", "Commercial",
    "DenseResidential", "Desert", "Farmland", "Forest", "Industrial", "Meadow", "MediumResidential",
    "Mountain", "Park", "Parking", "Playground", "Pond", "Port", "RailwayStation", "Resort", "River",
    "School", "SparseResidential", "Square", "Stadium", "StorageTanks", "Viaduct",
)  # fmt: skip

CARD = DatasetCard(
    name="aid",
    title="AID",
    url="https://captain-whu.github.io/AID/",
    citation=(
        "@article{xia2017aid, title={AID: A benchmark data set for performance evaluation of aerial scene "
        "classification}, author={Xia, Gui-Song and Hu, Jingwen and Hu, Fan and Shi, Baoguang and Bai, "
        "Xiang and Zhong, Yanfei and Zhang, Liangpei and Lu, Xiaoqiang}, journal={IEEE TGRS}, volume={55}, "
        "number={7}, pages={3965--3981}, year={2017}}"
    ),
    layout="""\
<src>/            (the extracted AID/ folder)
  Airport/airport_1.jpg ... airport_360.jpg   (600x600 RGB JPEG)
  BareLand/ ... Viaduct/                      (30 class folders)
""",
)

CONVERTER = folder_per_class(CARD, root=".", folders=FOLDERS)
