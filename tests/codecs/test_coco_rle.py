"""COCO RLE without pycocotools: both counts forms, parity with pycocotools, hostile sizes."""

from __future__ import annotations

import numpy as np
import pytest

from univlm.codecs import LimitExceeded, coco_rle_to_mask, mask_to_coco_rle, rle_from_string, rle_to_string
from univlm.codecs.coco_rle import label_map_to_coco_rles, uncompressed_rle

# ------------------------------------------------------------------------------------------- COCO


def test_coco_rle_round_trip():
    rng = np.random.default_rng(1)
    binary = rng.random((37, 53)) > 0.6
    rle = mask_to_coco_rle(binary)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    np.testing.assert_array_equal(coco_rle_to_mask(rle), binary)
    np.testing.assert_array_equal(coco_rle_to_mask({**rle, "counts": rle["counts"].encode()}), binary)


def test_coco_uncompressed_counts_and_errors():
    # Column-major: 2 zeros, 3 ones, 1 zero in a 3x2 mask.
    mask = coco_rle_to_mask({"size": [3, 2], "counts": [2, 3, 1]})
    assert mask.tolist() == [[False, True], [False, True], [True, False]]
    with pytest.raises(ValueError):
        coco_rle_to_mask({"size": [3, 2], "counts": [2, 3]})
    with pytest.raises(ValueError):
        coco_rle_to_mask({"counts": "abc"})


def test_compressed_string_golden_without_pycocotools():
    # [2, 3, 1]: one 5-bit group each, chr(48 + n).
    assert rle_to_string([2, 3, 1]) == "231"
    # From the fourth count on, the difference to the count two back is written: 2 - 5 = -3 is the
    # single group 0b11101 ("M"); 40 needs two groups, 8 | 0x20 ("X") then 1 ("1").
    assert rle_to_string([0, 5, 40, 2]) == "05X1M"
    assert rle_from_string("05X1M") == [0, 5, 40, 2] == rle_from_string(b"05X1M")
    mask = coco_rle_to_mask({"size": [3, 2], "counts": "231"})
    assert mask.tolist() == [[False, True], [False, True], [True, False]]


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (37, 53), (64, 64), (300, 7)])
def test_round_trip_both_forms(shape):
    rng = np.random.default_rng(shape[0])
    for density in (0.0, 0.02, 0.5, 0.98, 1.0):
        binary = rng.random(shape) < density
        for compressed in (True, False):
            rle = mask_to_coco_rle(binary, compressed=compressed)
            np.testing.assert_array_equal(coco_rle_to_mask(rle), binary)
        assert uncompressed_rle(binary) == mask_to_coco_rle(binary, compressed=False)


def test_matches_pycocotools_when_installed():
    mask_utils = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(7)
    for i in range(60):
        shape = tuple(int(x) for x in rng.integers(1, 90, size=2))
        binary = rng.random(shape) < rng.random()
        if i % 10 == 0:
            binary[:] = bool(i % 20)
        ref = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
        assert mask_to_coco_rle(binary)["counts"] == ref["counts"].decode("ascii")
        np.testing.assert_array_equal(coco_rle_to_mask(ref), binary)  # bytes counts, as pycocotools gives
        uncompressed = mask_to_coco_rle(binary, compressed=False)
        from_py = mask_utils.frPyObjects(uncompressed, *shape)
        np.testing.assert_array_equal(mask_utils.decode(from_py).astype(bool), binary)
        assert rle_from_string(from_py["counts"]) == uncompressed["counts"]


def test_label_map_rles_match_per_label_masks():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=(31, 17))
    labels[0, 0] = 3
    rles = label_map_to_coco_rles(labels)
    assert list(rles) == sorted(set(np.unique(labels).tolist()) - {0})
    for k, rle in rles.items():
        assert rle == mask_to_coco_rle(labels == k)
    assert label_map_to_coco_rles(np.zeros((4, 4), dtype=int)) == {}


# ------------------------------------------------------------- hostile input (issue #15, class 9)


@pytest.mark.parametrize(
    "rle,match",
    [
        ({"size": ["3", "2"], "counts": [6]}, "size"),  # an RLE size of strings crashed validation
        ({"size": [3, True], "counts": [3]}, "size"),
        ({"size": [3, -2], "counts": [0]}, "size"),
        ({"size": [3], "counts": [3]}, r"\[H, W\]"),
        ({"size": [3, 2], "counts": [2, -3, 7]}, r"counts'\[1\]"),
        ({"size": [3, 2], "counts": [2, 3.5, 1]}, r"counts'\[1\]"),
        ({"size": [3, 2], "counts": "2\x7f1"}, "alphabet"),
        ({"size": [3, 2], "counts": "2é1"}, "alphabet"),
        ({"size": [3, 2], "counts": "2X"}, "middle of a count"),
        ({"size": [3, 2], "counts": "0M"}, "negative"),
        ({"size": [3, 2], "counts": {"a": 1}}, "str, bytes or list"),
    ],
)
def test_malformed_rle_is_a_value_error_naming_the_field(rle, match):
    with pytest.raises(ValueError, match=match):
        coco_rle_to_mask(rle)


def test_huge_size_is_refused_before_allocating():
    # 200000 x 200000 tried to allocate 37 GiB.
    with pytest.raises(LimitExceeded, match="max_pixels"):
        coco_rle_to_mask({"size": [200000, 200000], "counts": [200000 * 200000]})
    assert coco_rle_to_mask({"size": [2, 3], "counts": [6]}, max_pixels=None).shape == (2, 3)
