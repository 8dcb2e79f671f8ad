"""Compatibility module: the mask codec now lives in :mod:`univlm.codecs.text4seg` (format and
encoder), :mod:`univlm.codecs.text4seg_decode` (decoder), :mod:`univlm.codecs.grid` (resampling),
:mod:`univlm.codecs.coco_rle` and :mod:`univlm.codecs.limits`.

Every name this module used to define is re-exported here for one release; new code imports from
:mod:`univlm.codecs` (or the modules above).
"""

from __future__ import annotations

from univlm.codecs.coco_rle import coco_rle_to_mask, mask_to_coco_rle
from univlm.codecs.grid import downsample_mask, nearest_indices, pil_nearest_indices, upsample_grid
from univlm.codecs.limits import MAX_GRID
from univlm.codecs.text4seg import (
    BACKGROUND,
    ROW_SEP,
    RUN_SEP,
    SEG_CLOSE,
    SEG_OPEN,
    DecodedMask,
    MaskDecodeError,
    NoMaskFound,
    Repair,
    encode_grid,
    encode_mask,
)
from univlm.codecs.text4seg_decode import decode_mask, decode_masks
from univlm.tasks import DEFAULT_GRID

__all__ = [
    "BACKGROUND",
    "DEFAULT_GRID",
    "MAX_GRID",
    "ROW_SEP",
    "RUN_SEP",
    "SEG_CLOSE",
    "SEG_OPEN",
    "DecodedMask",
    "MaskDecodeError",
    "NoMaskFound",
    "Repair",
    "coco_rle_to_mask",
    "decode_mask",
    "decode_masks",
    "downsample_mask",
    "encode_grid",
    "encode_mask",
    "mask_to_coco_rle",
    "nearest_indices",
    "pil_nearest_indices",
    "upsample_grid",
]
