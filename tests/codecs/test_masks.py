"""``univlm.codecs.masks`` stays importable for one release and re-exports the split modules' names."""

from __future__ import annotations

import univlm.codecs
from univlm.codecs import masks


def test_compat_module_reexports_the_same_objects():
    for name in masks.__all__:
        assert hasattr(masks, name), name
        if name in univlm.codecs.__all__:
            assert getattr(masks, name) is getattr(univlm.codecs, name), name
    assert {"ROW_SEP", "RUN_SEP", "SEG_OPEN", "SEG_CLOSE", "decode_masks", "encode_mask"} <= set(
        masks.__all__
    )
