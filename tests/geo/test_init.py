"""The ``geo`` extra stays optional: the core never imports it, and its absence is one clear message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from univlm.geo import GeoDependencyError, require_geo


def test_core_and_cli_import_without_touching_rasterio():
    code = (
        "import sys, univlm, univlm.cli.predict, univlm.cli.decode_mask, univlm.geo.cli\n"
        "univlm.cli.predict._parser(); univlm.cli.decode_mask._parser()\n"
        "assert not {'rasterio', 'shapely', 'pyproj'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_extra_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "rasterio", None)  # import rasterio now raises ImportError
    with pytest.raises(GeoDependencyError, match=r"pip install univlm\[geo\]"):
        require_geo()
    from univlm.cli import predict

    scene = tmp_path / "scene.tif"
    scene.write_bytes(b"II*\x00")
    monkeypatch.setattr(predict, "load_predictor", lambda args: pytest.fail("the model must not load"))
    assert predict.main(["--model", "m", str(scene), "--prompt", "[SEG] x", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("univlm predict: error: the GIS features need") and "pip install univlm[geo]" in err
    assert "\n" not in err
