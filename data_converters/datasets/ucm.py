"""UC Merced Land Use (UCM): 21 scene classes x 100 images, 256 x 256 px aerial tiles (USGS).

Link: http://weegee.vision.ucmerced.edu/datasets/landuse.html
Citation: Yang and Newsam, "Bag-of-visual-words and spatial extensions for land-use
classification", ACM SIGSPATIAL GIS 2010.
"""

from data_converters.base import DatasetCard
from data_converters.families.classification import folder_per_class

FOLDERS = (
    "agricultural", "airplane", "baseballdiamond", "beach", "buildings", "chaparral", "denseresidential",
    "forest", "freeway", "golfcourse", "harbor", "intersection", "mediumresidential", "mobilehomepark",
    "overpass", "parkinglot", "river", "runway", "sparseresidential", "storagetanks", "tenniscourt",
)  # fmt: skip
# UCM folder names glue words together; the labels spell them out.
LABELS = {
    "baseballdiamond": "baseball diamond",
    "denseresidential": "dense residential",
    "golfcourse": "golf course",
    "mediumresidential": "medium residential",
    "mobilehomepark": "mobile home park",
    "parkinglot": "parking lot",
    "sparseresidential": "sparse residential",
    "storagetanks": "storage tanks",
    "tenniscourt": "tennis court",
}

CARD = DatasetCard(
    name="ucm",
    title="UC Merced Land Use",
    url="http://weegee.vision.ucmerced.edu/datasets/landuse.html",
    citation=(
        "@inproceedings{yang2010bag, title={Bag-of-visual-words and spatial extensions for land-use "
        "classification}, author={Yang, Yi and Newsam, Shawn}, booktitle={ACM SIGSPATIAL GIS}, year={2010}}"
    ),
    layout="""\
<src>/
  UCMerced_LandUse/Images/
    agricultural/agricultural00.tif ... agricultural99.tif   (256x256 RGB GeoTIFF)
    airplane/ ... tenniscourt/                             (21 class folders)
  uc_merced-{train,val,test}.txt                           (optional torchgeo split lists)
""",
)

CONVERTER = folder_per_class(
    CARD,
    root="UCMerced_LandUse/Images",
    folders=FOLDERS,
    labels=LABELS,
    split_list="uc_merced-{split}.txt",
)
