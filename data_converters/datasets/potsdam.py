"""ISPRS Potsdam 2D semantic labelling: 38 true orthophoto tiles of 6000 x 6000 px (5 cm), 6 classes.

Link: https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-potsdam.aspx
Citation: Rottensteiner et al., "The ISPRS benchmark on urban object classification and 3D building
reconstruction", ISPRS Annals I-3, 2012.

Labels are colour-coded RGB GeoTIFFs. Tiles are cut into 512 x 512 crops (non-overlapping, the last
row/column aligned to the border), as mmsegmentation's ``tools/dataset_converters/potsdam.py`` does
(it uses stride 256 for training; we keep no overlap). The split is mmsegmentation's: 24 training
tiles, 14 validation tiles. Both ``5_Labels_all`` and the eroded ``5_Labels_all_noBoundary`` work;
the black boundary of the latter (and any colour outside the palette) is ignored (255), as mmseg's
converter maps it to 0 and its config drops 0 with ``reduce_zero_label``. Clutter is a scored class.
"""

from collections.abc import Iterable, Iterator, Sequence

from data_converters.base import ConvertContext, DatasetCard, Skip
from data_converters.families.semantic_seg import LabelFormat, SegItem, semantic_segmentation

CLASSES = ("impervious surface", "building", "low vegetation", "tree", "car", "clutter")
PALETTE = {
    (255, 255, 255): "impervious surface",
    (0, 0, 255): "building",
    (0, 255, 255): "low vegetation",
    (0, 255, 0): "tree",
    (255, 255, 0): "car",
    (255, 0, 0): "clutter",
}
FORMAT = LabelFormat.palette(CLASSES, PALETTE)
TILES = {
    "train": (
        "2_10", "2_11", "2_12", "3_10", "3_11", "3_12", "4_10", "4_11", "4_12", "5_10", "5_11", "5_12",
        "6_10", "6_11", "6_12", "6_7", "6_8", "6_9", "7_10", "7_11", "7_12", "7_7", "7_8", "7_9",
    ),
    "val": (
        "2_13", "2_14", "3_13", "3_14", "4_13", "4_14", "4_15", "5_13", "5_14", "5_15", "6_13", "6_14",
        "6_15", "7_13",
    ),
}  # fmt: skip
IMAGE_DIR = "2_Ortho_RGB"
LABEL_DIRS = (("5_Labels_all", "_label.tif"), ("5_Labels_all_noBoundary", "_label_noBoundary.tif"))
# Potsdam and Vaihingen are the two halves of one ISPRS benchmark paper.
ISPRS_CITATION = (
    "@article{rottensteiner2012isprs, title={The ISPRS benchmark on urban object classification and 3D "
    "building reconstruction}, author={Rottensteiner, Franz and Sohn, Gunho and Jung, Jaewook and Gerke, "
    "Markus and Baillard, Caroline and Benitez, Sebastien and Breitkopf, Uwe}, journal={ISPRS Annals}, "
    "volume={I-3}, pages={293--298}, year={2012}}"
)


def isprs_items(
    ctx: ConvertContext,
    stems: Iterable[str],
    image_dir: str,
    image_suffix: str,
    label_dirs: Sequence[tuple[str, str]],
) -> Iterator[SegItem | Skip]:
    """Items of one split of an ISPRS 2D semantic labelling benchmark (Potsdam, Vaihingen).

    Args:
        ctx: Conversion context.
        stems: The split's tile stems, e.g. ``"top_potsdam_2_10"``.
        image_dir: Image folder under ``--src``; a tile's image is ``<stem><image_suffix>`` in it.
        image_suffix: Image file name after the stem, e.g. ``"_RGB.tif"``.
        label_dirs: ``(folder, file name after the stem)`` of each label variant (complete, eroded);
            the first folder present under ``--src`` is used.

    Yields:
        A :class:`SegItem` per tile, or ``Skip("missing image")`` for a tile a partial download lacks.
    """
    label_dir, suffix = next(((d, s) for d, s in label_dirs if (ctx.src / d).is_dir()), label_dirs[0])
    for stem in stems:
        image = ctx.src / image_dir / f"{stem}{image_suffix}"
        if not image.is_file():
            yield Skip("missing image", str(image))
            continue
        yield SegItem(stem, image, ctx.src / label_dir / f"{stem}{suffix}")


def items(ctx: ConvertContext) -> Iterator[SegItem | Skip]:
    stems = [f"top_potsdam_{tile}" for tile in TILES[ctx.split]]
    yield from isprs_items(ctx, stems, IMAGE_DIR, "_RGB.tif", LABEL_DIRS)


CARD = DatasetCard(
    name="potsdam",
    title="ISPRS Potsdam",
    url="https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-potsdam.aspx",
    citation=ISPRS_CITATION,
    layout="""\
<src>/
  2_Ortho_RGB/top_potsdam_2_10_RGB.tif ...             (6000x6000 RGB, from 2_Ortho_RGB.zip)
  5_Labels_all/top_potsdam_2_10_label.tif ...          (colour-coded RGB labels, 5_Labels_all.zip)
   or 5_Labels_all_noBoundary/top_potsdam_2_10_label_noBoundary.tif ...
""",
    notes=(
        "512x512 crops, no overlap, last crop aligned to the border; mmsegmentation's 24/14 tile split; "
        "black boundary -> 255 (ignored), clutter scored."
    ),
)

CONVERTER = semantic_segmentation(
    CARD,
    splits=("train", "val"),
    required=(f"{IMAGE_DIR}/", "5_Labels_all/|5_Labels_all_noBoundary/"),
    fmt=FORMAT,
    items=items,
    crop=512,
)
