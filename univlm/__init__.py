"""univlm: a unified remote-sensing vision-language model.

Importing this package registers the univlm configuration, model and processor with
transformers' ``Auto*`` factories, so ``AutoModelForImageTextToText.from_pretrained`` works on a
univlm checkpoint without ``trust_remote_code``.

The everyday entry point is :class:`univlm.Predictor`::

    from univlm import Predictor
    result = Predictor.from_pretrained("outputs/stage1").predict("scene.png", "[VG] the largest building")
"""

from __future__ import annotations

__version__ = "0.1.0"

from univlm import models as _models  # noqa: E402,F401  (registers the Auto* classes)
from univlm.inference import Predictor, Result  # noqa: E402

__all__ = ["Predictor", "Result", "__version__"]
