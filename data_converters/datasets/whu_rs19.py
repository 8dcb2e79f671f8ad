"""WHU-RS19: 19 scene classes, ~50 images each, 600 x 600 px (Google Earth).

Link: https://captain-whu.github.io/BED4RS/
Citation: Xia et al., "Structural high-resolution satellite image indexing", ISPRS TC VII
Symposium, 2010; Dai and Yang, "Satellite image classification via two-layer sparse coding with
biased image representation", IEEE GRSL 8(1), 2011.
"""

from data_converters.base import DatasetCard
from data_converters.families.classification import folder_per_class

FOLDERS = (
    "Airport", "Beach", "Bridge", "Commercial", "Desert", "Farmland", "footballField", "Forest",
    "Industrial", "Meadow", "Mountain", "Park", "Parking", "Pond", "Port", "railwayStation",
    "Residential", "River", "Viaduct",
)  # fmt: skip

CARD = DatasetCard(
    name="whu-rs19",
    title="WHU-RS19",
    url="https://captain-whu.github.io/BED4RS/",
    citation=(
        "@inproceedings{xia2010structural, title={Structural high-resolution satellite image indexing}, "
        "author={Xia, Gui-Song and Yang, Wen and Delon, Julie and Gousseau, Yann and Sun, Hong and "
        "Ma{\\^\\i}tre, Henri}, booktitle={ISPRS TC VII Symposium}, year={2010}}"
    ),
    layout="""\
<src>/            (the folder holding the 19 class folders, e.g. RSDataset/)
  Airport/airport_01.jpg ...   (600x600 RGB JPEG)
  Beach/ ... Viaduct/           (19 class folders; note footballField, railwayStation)
""",
)

CONVERTER = folder_per_class(CARD, root=".", folders=FOLDERS)
