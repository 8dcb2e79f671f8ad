"""Semantic segmentation from label images: index PNGs and colour-coded RGB (palette) masks.

Covers LoveDA, ISPRS Potsdam / Vaihingen, UAVid, OpenEarthMap, LandCover.ai, UDD5, VDD and COCO-Stuff.
Per-dataset modules list the items (image, label) of a split; this module decodes the labels, cuts
large tiles into square crops and builds the records.

Design choices:
- Label images are decoded to a class-index array where 0 is ``"others"`` (the dataset's own
  catch-all class, e.g. LoveDA "background", UDD5/VDD "other"), ``k >= 1`` names ``classes[k - 1]``
  and :data:`IGNORE_INDEX` (255) marks pixels the dataset's mmseg (or official) evaluation ignores:
  no-data, unlabelled, eroded boundaries, values or colours outside the label map. Index labels go
  through a 256-entry lookup table; 3-channel index labels (LandCover.ai tiles written by OpenCV) use
  their first channel. Palette labels map each RGB colour. docs/CONVERTERS_SEGMENTATION.md lists the
  mapping per dataset and the config it follows.
- The label format also fixes the class list a semantic protocol scores (:attr:`LabelFormat.eval_classes`,
  copied onto the dataset card): ``others`` is a scored class only where the dataset has a catch-all
  class, and every class some label value maps to is listed, in label order.
- Records per image (or crop), both ``[SEG]``:
  * one **all-classes** record for every image with any non-ignored pixel (so every image is
    scorable): ``[SEG] Please segment the a, the b and the c in this image.`` naming the classes
    present in the full-resolution label (every class when only ``others`` is present), whose answer
    encodes the 24 x 24 grid, with ``targets.mask`` = the label-index PNG (255 kept) written under the
    derived folder, ``targets.labels = ["others", *classes]`` and ``targets.ignore_index = 255``;
  * one **per class** visible on the 24 x 24 grid: RSUniVLM's prompt ``[SEG] Can you segment the
    {class} in this image?`` (train picks one of the four variants from a seeded RNG, val/test use the
    canonical first one), a binary answer with labels ``["others", class]``, ``targets.mask_rle``
    (COCO RLE of the full-resolution class mask) and, when any pixel is ignored, ``targets.ignore_rle``.
  The text target says ``others`` where the ground truth is ignored, as Text4Seg does; scoring never
  counts those pixels. A crop whose pixels are all ignored is skipped and counted.
- Large tiles are cut into ``crop`` x ``crop`` squares with stride ``stride`` (default: ``crop``,
  no overlap); the last row/column is shifted to end at the border (as mmsegmentation's ISPRS
  converters do) so no pixel is lost and no crop is padded. Images no larger than ``crop`` are used
  as they are, in place. Crops are written as PNG under ``<derived>/images/<split>/``.
- Reading is defensive: a missing or unreadable image or label, or a label whose size differs from
  its image, is skipped with a reason; nothing is silently dropped.

Helpers shared with the change and referring families: :func:`load_rgb`, :func:`load_label`,
:func:`save_index_png`, :func:`grid_classes`, :func:`binary_targets` (a one-class record's targets
with its ignored pixels), :func:`tile_windows`. Helpers for the per-dataset
``items`` functions: :func:`paired_items`, :func:`split_names`, :func:`checked_item`.
"""

from __future__ import annotations

import enum
import random
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from data_converters.base import (
    ConvertContext,
    Converter,
    DatasetCard,
    Record,
    Skip,
    make_record,
    parse_items,
    slug,
)
from univlm.codecs import BACKGROUND, downsample_mask, encode_mask, mask_to_coco_rle
from univlm.data.templates import multi_seg_prompt, seg_prompt
from univlm.tasks import DEFAULT_GRID

GRID = DEFAULT_GRID
# mmseg's ignore_index: ground-truth pixels with this value are never scored.
IGNORE_INDEX = 255


class Ignore(enum.Enum):
    """Marker of label values (or colours) that evaluation ignores; use :data:`IGNORE`."""

    IGNORE = "ignore"


IGNORE = Ignore.IGNORE


@dataclass(frozen=True)
class SegItem:
    """One labelled image of a split.

    Attributes:
        key: Unique, id-safe key within the split (goes into record ids and derived file names).
        image: The image file.
        label: The label file.
    """

    key: str
    image: Path
    label: Path


class LabelFormat:
    """How a dataset's label images encode classes; :meth:`decode` gives the class-index array.

    Build with :meth:`index` or :meth:`palette`. A value maps to a class name, to None
    (``"others"``, index 0) or to :data:`IGNORE` (:data:`IGNORE_INDEX`); values or colours the map
    does not name decode to ``unknown`` (default :data:`IGNORE`, as mmseg's converters do).
    """

    def __init__(
        self,
        classes: Sequence[str],
        lut: np.ndarray | None,
        colours: dict[int, int] | None,
        unknown: int = IGNORE_INDEX,
        mapped: frozenset[int] = frozenset(),
    ):
        self.classes = tuple(classes)
        self._lut = lut
        self._colours = colours
        self._unknown = unknown
        self._mapped = mapped
        if BACKGROUND in self.classes:
            raise ValueError(
                f"class name {BACKGROUND!r} is reserved for label index 0; map that value to None"
            )
        if len(self.classes) >= IGNORE_INDEX:
            raise ValueError(
                f"at most {IGNORE_INDEX - 1} classes fit an 8-bit mask with {IGNORE_INDEX} = ignore"
            )

    @classmethod
    def index(
        cls,
        classes: Sequence[str],
        values: Mapping[int, str | Ignore | None],
        unknown: str | Ignore | None = IGNORE,
    ) -> LabelFormat:
        """Index labels: pixel value ``v`` means ``values[v]``; other values mean ``unknown``.

        Raises:
            ValueError: If a value is outside 0..255 or names an unknown class.
        """
        fallback = _class_index(classes, unknown)
        lut = np.full(256, fallback, dtype=np.uint8)
        for value, name in values.items():
            if not 0 <= value <= 255:
                raise ValueError(f"label value {value} outside 0..255")
            lut[value] = _class_index(classes, name)
        return cls(classes, lut, None, fallback, frozenset(int(k) for k in lut))

    @classmethod
    def palette(
        cls,
        classes: Sequence[str],
        colours: Mapping[tuple[int, int, int], str | Ignore | None],
        unknown: str | Ignore | None = IGNORE,
    ) -> LabelFormat:
        """Colour-coded RGB labels: ``colours[(r, g, b)]`` names the class; other colours mean ``unknown``."""
        table = {(r << 16) | (g << 8) | b: _class_index(classes, name) for (r, g, b), name in colours.items()}
        fallback = _class_index(classes, unknown)
        return cls(classes, None, table, fallback, frozenset(table.values()) | {fallback})

    @property
    def is_palette(self) -> bool:
        """True for colour-coded RGB labels."""
        return self._colours is not None

    @property
    def labels(self) -> list[str]:
        """``["others", *classes]``: label ``k`` of the decoded array."""
        return [BACKGROUND, *self.classes]

    @property
    def eval_classes(self) -> tuple[str, ...]:
        """The classes a semantic protocol scores: ``others`` when some value maps to it, then every
        class some value maps to, in label order."""
        return tuple(name for k, name in enumerate(self.labels) if k in self._mapped)

    def decode(self, array: np.ndarray) -> np.ndarray:
        """Class-index array ``(H, W)`` uint8 (255 = ignored) of a label image ``(H, W)`` or ``(H, W, C)``.

        Raises:
            ValueError: When a palette label is not RGB.
        """
        if self._lut is not None:
            if array.ndim == 3:
                array = array[..., 0]  # OpenCV-written index masks repeat the value in all channels
            return self._lut[array.astype(np.int64).clip(0, 255)]
        if array.ndim != 3 or array.shape[2] < 3:
            raise ValueError(f"expected an RGB colour-coded label, got an array of shape {array.shape}")
        rgb = array[..., :3].astype(np.int64)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # (H, W)
        out = np.full(packed.shape, self._unknown, dtype=np.uint8)
        for colour, k in self._colours.items():
            out[packed == colour] = k
        return out


def _class_index(classes: Sequence[str], name: str | Ignore | None) -> int:
    if name is None:
        return 0
    if name is IGNORE:
        return IGNORE_INDEX
    try:
        return list(classes).index(name) + 1
    except ValueError:
        raise ValueError(f"label maps to unknown class {name!r}; classes are {list(classes)}") from None


# ------------------------------------------------------------------------------------- file helpers


def open_array(path: Path, mode: str | None, what: str) -> np.ndarray | Skip:
    """Pixels of an image file, converted to ``mode`` when given, or ``Skip("missing/corrupt {what}")``."""
    if not path.is_file():
        return Skip(f"missing {what}", str(path))
    try:
        with Image.open(path) as im:
            im.load()
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            # Without a mode a paletted ("P") label yields its class indices: the palette is for display.
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return Skip(f"corrupt {what}", str(path), str(err))


def load_rgb(path: Path) -> np.ndarray | Skip:
    """An image file as an ``(H, W, 3)`` uint8 array, or ``Skip("missing/corrupt image")``."""
    return open_array(path, "RGB", "image")


def load_label(path: Path, fmt: LabelFormat) -> np.ndarray | Skip:
    """A label file decoded with ``fmt`` to an ``(H, W)`` class-index array, or a :class:`Skip`."""
    raw = open_array(path, None, "label")
    if isinstance(raw, Skip):
        return raw
    if fmt.is_palette and raw.ndim == 2:
        return Skip(
            "label is not RGB", str(path), f"expected a colour-coded RGB label, got shape {raw.shape}"
        )
    return fmt.decode(raw)


def save_index_png(ctx: ConvertContext, relpath: str, index: np.ndarray) -> str:
    """Write a class-index array as an 8-bit PNG (mode ``L``) under the derived folder, atomically.

    Returns:
        The path relative to ``images_root``, as records store it.
    """
    return ctx.save_derived(relpath, Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8), mode="L"))


def grid_classes(index: np.ndarray, grid: int = GRID) -> list[int]:
    """Class indices (not 0, not ignored) visible on the ``grid`` x ``grid`` downsampled mask, ascending."""
    return [int(v) for v in np.unique(downsample_mask(index, grid)) if v not in (0, IGNORE_INDEX)]


def answer_index(index: np.ndarray) -> np.ndarray:
    """The class-index array a text answer encodes: ignored pixels read as ``others`` (Text4Seg)."""
    return np.where(index == IGNORE_INDEX, 0, index).astype(np.uint8)


def binary_targets(index: np.ndarray, k: int, cls: str, size: list[int]) -> dict:
    """``targets`` of a binary (one-class) record: the class mask, and the ignored pixels apart."""
    targets = {"mask_rle": mask_to_coco_rle(index == k), "labels": [BACKGROUND, cls], "image_size": size}
    ignored = index == IGNORE_INDEX
    if ignored.any():
        targets["ignore_rle"] = mask_to_coco_rle(ignored)
        targets["ignore_index"] = IGNORE_INDEX
    return targets


def tile_windows(
    width: int, height: int, crop: int | None, stride: int | None = None
) -> list[tuple[int, int, int, int]]:
    """Crop windows ``(x, y, w, h)`` covering an image, row-major.

    Args:
        width: Image width.
        height: Image height.
        crop: Square crop side; None (or an image no larger than it) gives the whole image.
        stride: Step between crops; ``crop`` when None. The last window on each axis is shifted to
            end at the border; an axis shorter than ``crop`` keeps its full length.

    Returns:
        The windows.
    """
    if crop is None or (width <= crop and height <= crop):
        return [(0, 0, width, height)]
    step = stride or crop

    def starts(length: int) -> list[int]:
        if length <= crop:
            return [0]
        out = list(range(0, length - crop + 1, step))
        if out[-1] != length - crop:
            out.append(length - crop)
        return out

    return [(x, y, min(crop, width), min(crop, height)) for y in starts(height) for x in starts(width)]


def record_rng(rid: str) -> random.Random:
    """A deterministic per-record RNG (prompt variants stay stable across runs and machines)."""
    return random.Random(zlib.crc32(rid.encode("utf-8")))


# ------------------------------------------------------------------------------------------ records


def semantic_records(
    *,
    name: str,
    ctx: ConvertContext,
    key: str,
    image_rel: str,
    index: np.ndarray,
    fmt: LabelFormat,
) -> Iterator[Record | Skip]:
    """The all-classes and per-class ``[SEG]`` records of one image (or crop).

    Args:
        name: Dataset name (id prefix and source).
        ctx: Conversion context.
        key: Unique key of the image/crop within the split.
        image_rel: Image path relative to ``images_root``.
        index: ``(H, W)`` class-index array (0 = others, 255 = ignored).
        fmt: The dataset's label format (class names).
    """
    if (index == IGNORE_INDEX).all():
        yield Skip("all pixels ignored", f"{name}/{ctx.split}/{key}")
        return
    height, width = index.shape
    size = [int(width), int(height)]
    source = f"{name}/{ctx.split}"
    labels = fmt.labels
    present = [int(k) for k in np.unique(index) if k not in (0, IGNORE_INDEX)]
    asked = present or list(range(1, len(labels)))  # only others visible: ask about every class
    mask_rel = save_index_png(ctx, f"masks/{ctx.split}/{key}.png", index)
    yield make_record(
        rid=f"{name}-{ctx.split}-{key}-seg-all",
        images=[image_rel],
        task="SEG",
        prompt=multi_seg_prompt([labels[k] for k in asked]),
        answer=encode_mask(answer_index(index), labels, grid=GRID),
        source=source,
        targets={"mask": mask_rel, "labels": labels, "image_size": size, "ignore_index": IGNORE_INDEX},
    )
    for k in grid_classes(index):
        cls = labels[k]
        rid = f"{name}-{ctx.split}-{key}-seg-{slug(cls.replace(' ', '_'))}"
        yield make_record(
            rid=rid,
            images=[image_rel],
            task="SEG",
            prompt=seg_prompt(cls, record_rng(rid) if ctx.split == "train" else None),
            answer=encode_mask(index == k, [BACKGROUND, cls], grid=GRID),
            source=source,
            targets=binary_targets(index, k, cls, size),
        )


def convert_item(
    *, name: str, ctx: ConvertContext, item: SegItem, fmt: LabelFormat, crop: int | None, stride: int | None
) -> Iterator[Record | Skip]:
    """Records of one (image, label) pair, cut into crops when it is larger than ``crop``."""
    image = load_rgb(item.image)
    if isinstance(image, Skip):
        yield image
        return
    index = load_label(item.label, fmt)
    if isinstance(index, Skip):
        yield index
        return
    if index.shape != image.shape[:2]:
        yield Skip(
            "label size differs from image",
            str(item.label),
            f"label {index.shape[1]}x{index.shape[0]}, image {image.shape[1]}x{image.shape[0]}",
        )
        return
    height, width = index.shape
    windows = tile_windows(width, height, crop, stride)
    for x, y, w, h in windows:
        if len(windows) == 1 and (w, h) == (width, height):
            key, rel = item.key, ctx.rel(item.image)
        else:
            key = f"{item.key}_{x}_{y}"
            tile = np.ascontiguousarray(image[y : y + h, x : x + w])  # (h, w, 3)
            rel = ctx.save_derived(f"images/{ctx.split}/{key}.png", Image.fromarray(tile, mode="RGB"))
        yield from semantic_records(
            name=name, ctx=ctx, key=key, image_rel=rel, index=index[y : y + h, x : x + w], fmt=fmt
        )


def semantic_segmentation(
    card: DatasetCard,
    *,
    splits: tuple[str, ...],
    required: tuple[str, ...] | Callable[[str], tuple[str, ...]],
    fmt: LabelFormat,
    items: Callable[[ConvertContext], Iterable[SegItem | Skip]],
    crop: int | None = None,
    stride: int | None = None,
) -> Converter:
    """Build the converter of a semantic-segmentation dataset.

    Args:
        card: The dataset's facts (name, link, citation, layout, notes).
        splits: Splits with labels (unlabelled test splits are left out).
        required: Paths under ``--src`` that must exist (see :class:`~data_converters.base.Converter`).
        fmt: How the label images encode classes.
        items: ``items(ctx)`` yields the split's :class:`SegItem` (or :class:`Skip` for an item whose
            label is missing).
        crop: Square crop side for large images; None keeps images whole.
        stride: Crop stride; ``crop`` when None.

    Returns:
        The :class:`Converter`.
    """

    def convert_one(ctx: ConvertContext, item: SegItem) -> Iterator[Record | Skip]:
        return convert_item(name=card.name, ctx=ctx, item=item, fmt=fmt, crop=crop, stride=stride)

    parse = parse_items(items, convert_one)
    card = card if card.eval_classes else replace(card, eval_classes=fmt.eval_classes)
    return Converter(card, tasks=("SEG",), splits=splits, required=required, parse=parse)


def paired_items(
    image_dir: Path,
    label_dir: Path,
    label_name: Callable[[Path], str],
    image_suffixes: Sequence[str],
    prefix: str = "",
) -> Iterator[SegItem | Skip]:
    """Items of an ``images/`` + ``labels/`` folder pair, matched by ``label_name(image_path)``.

    Args:
        image_dir: Folder of images.
        label_dir: Folder of labels.
        label_name: Label file name of an image path.
        image_suffixes: Image extensions to take (lower case, with the dot).
        prefix: Prepended to each key (e.g. ``"urban_"``) to keep keys unique across folders.

    Yields:
        A :class:`SegItem` per image, or ``Skip("missing label")``.
    """
    for path in sorted(image_dir.iterdir()):
        if path.suffix.lower() not in image_suffixes:
            continue
        label = label_dir / label_name(path)
        if not label.is_file():
            yield Skip("missing label", str(label))
            continue
        yield SegItem(key=slug(prefix + path.stem), image=path, label=label)


def split_names(path: Path) -> list[str]:
    """The names a split-list file holds, one per line (stripped; blank lines ignored)."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def checked_item(key: str, image: Path, label: Path) -> SegItem | Skip:
    """``SegItem(key, image, label)``, or ``Skip("missing image")`` / ``Skip("missing label")``."""
    if not image.is_file():
        return Skip("missing image", str(image))
    if not label.is_file():
        return Skip("missing label", str(label))
    return SegItem(key, image, label)
