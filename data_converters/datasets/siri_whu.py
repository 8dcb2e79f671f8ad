"""SIRI-WHU (Google): 12 scene classes x 200 images, 200 x 200 px, 2 m resolution.

Link: http://www.lmars.whu.edu.cn/prof_web/zhongyanfei/e-code.html
Citation: Zhao, Zhong, Xia and Zhang, "Dirichlet-derived multiple topic scene classification model
for high spatial resolution remote sensing imagery", IEEE TGRS 54(4), 2016.
"""

from data_converters.base import DatasetCard
from data_converters.families.classification import folder_per_class

FOLDERS = (
    "agriculture", "commercial", "harbor", "idle_land", "industrial", "meadow", "overpass", "park",
    "pond", "residential", "river", "water",
)  # fmt: skip

CARD = DatasetCard(
    name="siri-whu",
    title="SIRI-WHU",
    url="http://www.lmars.whu.edu.cn/prof_web/zhongyanfei/e-code.html",
    citation=(
        "@article{zhao2016dirichlet, title={Dirichlet-derived multiple topic scene classification model for "
        "high spatial resolution remote sensing imagery}, author={Zhao, Bei and Zhong, Yanfei and Xia, "
        "Gui-Song and Zhang, Liangpei}, journal={IEEE TGRS}, volume={54}, number={4}, pages={2108--2123}, "
        "year={2016}}"
    ),
    layout="""\
<src>/            (the folder holding the class folders, e.g. 12class_tif/)
  agriculture/0001.tif ... 0200.tif   (200x200 RGB TIFF)
  commercial/ ... water/               (12 class folders)
""",
)

CONVERTER = folder_per_class(CARD, root=".", folders=FOLDERS)
