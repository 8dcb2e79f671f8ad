"""ISPRS Vaihingen 2D semantic labelling: 33 IRRG true orthophoto tiles (~2000 x 2500 px, 9 cm), 6 classes.

Link: https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-vaihingen.aspx
Citation: Rottensteiner et al., "The ISPRS benchmark on urban object classification and 3D building
reconstruction", ISPRS Annals I-3, 2012.

Images are false-colour IRRG GeoTIFFs (``top/top_mosaic_09cm_area{N}.tif``); labels are colour-coded
RGB GeoTIFFs with the same file name (complete ground truth) or ``..._noBoundary.tif`` (eroded). Tiles
are cut into 512 x 512 crops as mmsegmentation does; its split: 16 training areas, 17 validation areas.
As for Potsdam, the black boundary of eroded labels is ignored (255) and clutter is a scored class.
"""

from collections.abc import Iterator

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.datasets.potsdam import CLASSES, ISPRS_CITATION, PALETTE, isprs_items
from data_converters.families.semantic_seg import LabelFormat, SegItem, semantic_segmentation

FORMAT = LabelFormat.palette(CLASSES, PALETTE)
AREAS = {
    "train": (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37),
    "val": (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38),
}
IMAGE_DIR = "ISPRS_semantic_labeling_Vaihingen/top"
LABEL_DIRS = (
    ("ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE", ".tif"),
    ("ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE", "_noBoundary.tif"),
)


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    stems = [f"top_mosaic_09cm_area{area}" for area in AREAS[ctx.split]]
    yield from isprs_items(ctx, stems, IMAGE_DIR, ".tif", LABEL_DIRS)


CARD = DatasetCard(
    name="vaihingen",
    title="ISPRS Vaihingen",
    url="https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-vaihingen.aspx",
    citation=ISPRS_CITATION,
    layout="""\
<src>/
  ISPRS_semantic_labeling_Vaihingen/top/top_mosaic_09cm_area1.tif ...     (IRRG GeoTIFF)
  ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE/top_mosaic_09cm_area1.tif ...  (RGB labels)
   or ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE/top_mosaic_09cm_area1_noBoundary.tif
""",
    notes="IRRG images; 512x512 crops, no overlap, last crop aligned to the border; mmsegmentation's split.",
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=(f"{IMAGE_DIR}/", "|".join(f"{d}/" for d, _ in LABEL_DIRS)),
    fmt=FORMAT,
    items=items,
    crop=512,
)
