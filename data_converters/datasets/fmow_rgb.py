"""fMoW-rgb (Functional Map of the World, RGB JPEG version): 62 categories, boxes in large images.

Link: https://github.com/fMoW/dataset
Citation: Christie, Fendley, Wilson and Mukherjee, "Functional map of the world", CVPR 2018.

Each image comes with ``<stem>_rgb.json`` metadata whose ``bounding_boxes`` entries hold
``"box": [x, y, width, height]`` (pixels, top-left origin) and ``"category"``. As in the fMoW
baseline, the classified region is a crop around the box with some context: here the box grown by
``CONTEXT`` of its size on every side, clamped to the image (our choice). The crop is written to
the derived-files folder as PNG and the record points at it.
"""

from __future__ import annotations

from collections.abc import Iterator

from PIL import Image

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    Record,
    Skip,
    make_record,
    read_json,
    slug,
)
from univlm.data.templates import cls_prompt

CATEGORIES = (
    "airport", "airport_hangar", "airport_terminal", "amusement_park", "aquaculture", "archaeological_site",
    "barn", "border_checkpoint", "burial_site", "car_dealership", "construction_site", "crop_field", "dam",
    "debris_or_rubble", "educational_institution", "electric_substation", "factory_or_powerplant",
    "fire_station", "flooded_road", "fountain", "gas_station", "golf_course", "ground_transportation_station",
    "helipad", "hospital", "impoverished_settlement", "interchange", "lake_or_pond", "lighthouse",
    "military_facility", "multi-unit_residential", "nuclear_powerplant", "office_building",
    "oil_or_gas_facility", "park", "parking_lot_or_garage", "place_of_worship", "police_station", "port",
    "prison", "race_track", "railway_bridge", "recreational_facility", "road_bridge", "runway", "shipyard",
    "shopping_mall", "single-unit_residential", "smokestack", "solar_farm", "space_facility", "stadium",
    "storage_tank", "surface_mine", "swimming_pool", "toll_booth", "tower", "tunnel_opening",
    "waste_disposal", "water_treatment_facility", "wind_farm", "zoo",
)  # fmt: skip
LABELS = {c: c.replace("_", " ") for c in CATEGORIES}
CONTEXT = 0.2


def parse(ctx: ConvertContext) -> Iterator[Record | Skip]:
    """Records of ``ctx.split``: one per bounding box of every ``*_rgb.jpg``."""
    labels = [LABELS[c] for c in CATEGORIES]
    base = ctx.src / ctx.split
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if folder.name not in LABELS:
            yield Skip("unknown class folder", str(folder))
            continue
        for image_path in sorted(folder.glob("*/*_rgb.jpg")):
            meta_path = image_path.with_suffix(".json")
            if not meta_path.is_file():
                yield Skip("missing metadata json", str(meta_path))
                continue
            try:
                meta = read_json(meta_path)
            except ValueError as err:
                yield Skip("unreadable metadata json", str(meta_path), str(err))
                continue
            info = ctx.image(image_path)
            if isinstance(info, Skip):
                yield info
                continue
            for k, entry in enumerate(meta.get("bounding_boxes", [])):
                category = entry.get("category")
                if category not in LABELS:
                    yield Skip("unknown category", f"{meta_path}#box{k}", str(category))
                    continue
                try:
                    x, y, w, h = (float(v) for v in entry["box"])
                except (KeyError, TypeError, ValueError):
                    yield Skip("unreadable box", f"{meta_path}#box{k}")
                    continue
                if w <= 0 or h <= 0:
                    yield Skip("empty box", f"{meta_path}#box{k}")
                    continue
                crop = (
                    max(0, int(x - CONTEXT * w)),
                    max(0, int(y - CONTEXT * h)),
                    min(info.width, int(x + w + CONTEXT * w + 0.999)),
                    min(info.height, int(y + h + CONTEXT * h + 0.999)),
                )
                if crop[2] <= crop[0] or crop[3] <= crop[1]:
                    yield Skip("box outside the image", f"{meta_path}#box{k}")
                    continue
                with Image.open(image_path) as im:
                    rel = ctx.save_derived(
                        f"{ctx.split}/{image_path.stem}_{k}.png", im.convert("RGB").crop(crop)
                    )
                label = LABELS[category]
                yield make_record(
                    rid=f"fmow-rgb-{ctx.split}-{slug(image_path.stem)}-{k}-cls",
                    images=[rel],
                    task="CLS",
                    prompt=cls_prompt(labels),
                    answer=label,
                    source=f"fmow-rgb/{ctx.split}",
                    targets={
                        "label": label,
                        "classes": labels,
                        "source_image": info.rel,
                        "crop": list(crop),
                    },
                )


CARD = DatasetCard(
    name="fmow-rgb",
    title="fMoW-rgb",
    url="https://github.com/fMoW/dataset",
    citation=(
        "@inproceedings{christie2018functional, title={Functional map of the world}, author={Christie, Gordon "
        "and Fendley, Neil and Wilson, James and Mukherjee, Ryan}, booktitle={CVPR}, year={2018}}"
    ),
    layout="""\
<src>/            (the fmow-rgb/ folder)
  train/<category>/<category>_<n>/<category>_<n>_<k>_rgb.jpg   (+ <same stem>.json metadata)
  val/<category>/...                                            (same layout)
""",
    notes=(
        "Boxes are [x, y, width, height] pixels; each record is a PNG crop of the box grown by 20 % per "
        "side (written under the derived-files folder). The test split has no public labels."
    ),
)

CONVERTER = Converter(CARD, tasks=("CLS",), splits=("train", "val"), required=("{split}/",), parse=parse)
