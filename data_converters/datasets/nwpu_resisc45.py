"""NWPU-RESISC45: 45 scene classes x 700 images, 256 x 256 px (Google Earth).

Link: https://gcheng-nwpu.github.io/#Datasets
Citation: Cheng, Han and Lu, "Remote sensing image scene classification: benchmark and state of
the art", Proceedings of the IEEE 105(10), 2017.
"""

from data_converters.base import DatasetCard
from data_converters.families.classification import folder_per_class

FOLDERS = (
    "airplane", "airport", "baseball_diamond", "basketball_court", "beach", "bridge", "chaparral",
    "church", "circular_farmland", "cloud", "commercial_area", "dense_residential", "desert", "forest",
    "freeway", "golf_course", "ground_track_field", "harbor", "industrial_area", "intersection", "island",
    "lake", "meadow", "medium_residential", "mobile_home_park", "mountain", "overpass", "palace",
    "parking_lot", "railway", "railway_station", "rectangular_farmland", "river", "roundabout", "runway",
    "sea_ice", "ship", "snowberg", "sparse_residential", "stadium", "storage_tank", "tennis_court",
    "terrace", "thermal_power_station", "wetland",
)  # fmt: skip

CARD = DatasetCard(
    name="nwpu-resisc45",
    title="NWPU-RESISC45",
    url="https://gcheng-nwpu.github.io/#Datasets",
    citation=(
        "@article{cheng2017remote, title={Remote sensing image scene classification: Benchmark and state "
        "of the art}, author={Cheng, Gong and Han, Junwei and Lu, Xiaoqiang}, journal={Proceedings of the "
        "IEEE}, volume={105}, number={10}, pages={1865--1883}, year={2017}}"
    ),
    layout="""\
<src>/
  NWPU-RESISC45/
    airplane/airplane_001.jpg ... airplane_700.jpg   (256x256 RGB JPEG)
    airport/ ... wetland/                            (45 class folders)
  resisc45-{train,val,test}.txt                      (optional torchgeo split lists)
""",
)

CONVERTER = folder_per_class(CARD, root="NWPU-RESISC45", folders=FOLDERS, split_list="resisc45-{split}.txt")
