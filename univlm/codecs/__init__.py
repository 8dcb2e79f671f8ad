"""Text codecs: boxes as ``[x1, y1, x2, y2]`` (0..100) and masks as Text4Seg R-RLE in ``<seg>`` blocks.

Modules: :mod:`~univlm.codecs.boxes` (box contract and parser), :mod:`~univlm.codecs.text4seg`
(mask format, result types, encoder), :mod:`~univlm.codecs.text4seg_decode` (lenient bounded
decoder) with :mod:`~univlm.codecs.text4seg_blocks` (its row scanner and block finder), :mod:`~univlm.codecs.grid` (PIL/torch-exact nearest resampling),
:mod:`~univlm.codecs.coco_rle` (COCO RLE without pycocotools) and :mod:`~univlm.codecs.limits`
(resource bounds). Only numpy is imported: no torch, transformers or pycocotools.
"""

from __future__ import annotations

from univlm.codecs.boxes import (
    BoxParseResult,
    ParsedBox,
    denormalize_box,
    format_box,
    format_boxes,
    format_geochat_box,
    normalize_box,
    parse_boxes,
)
from univlm.codecs.coco_rle import coco_rle_to_mask, mask_to_coco_rle, rle_from_string, rle_to_string
from univlm.codecs.grid import downsample_mask, nearest_indices, pil_nearest_indices, upsample_grid
from univlm.codecs.limits import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_MASKS,
    DEFAULT_MAX_PIXELS,
    MAX_GRID,
    LimitExceeded,
)
from univlm.codecs.text4seg import (
    BACKGROUND,
    DecodedMask,
    MaskDecodeError,
    NoMaskFound,
    Repair,
    check_labels,
    encode_grid,
    encode_mask,
)
from univlm.codecs.text4seg_decode import decode_mask, decode_masks
from univlm.tasks import DEFAULT_GRID

__all__ = [
    "BACKGROUND",
    "DEFAULT_GRID",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_MASKS",
    "DEFAULT_MAX_PIXELS",
    "MAX_GRID",
    "BoxParseResult",
    "DecodedMask",
    "LimitExceeded",
    "MaskDecodeError",
    "NoMaskFound",
    "ParsedBox",
    "Repair",
    "check_labels",
    "coco_rle_to_mask",
    "decode_mask",
    "decode_masks",
    "denormalize_box",
    "downsample_mask",
    "encode_grid",
    "encode_mask",
    "format_box",
    "format_boxes",
    "format_geochat_box",
    "mask_to_coco_rle",
    "nearest_indices",
    "normalize_box",
    "parse_boxes",
    "pil_nearest_indices",
    "rle_from_string",
    "rle_to_string",
    "upsample_grid",
]
