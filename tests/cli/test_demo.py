"""``univlm demo``: safe defaults (127.0.0.1, no share link, capped uploads) and the missing-model hint."""

from __future__ import annotations

import pytest

from univlm.cli.demo import build_parser, main
from univlm.demo.tasks import TRAIN_HINT


def test_default_bind_address_is_localhost_and_share_is_off():
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert args.share is False
    assert args.max_upload_mb == 50


def test_main_launches_on_localhost_by_default(model_dir, monkeypatch, capsys):
    pytest.importorskip("gradio", reason="the demo extra (gradio) is not installed")
    import univlm.demo.app as app

    calls = []

    def fake_launch(demo, **kwargs):
        calls.append(kwargs)
        monkeypatch.setattr(demo, "block_thread", lambda: None)  # serve "until Ctrl+C": return at once
        return "http://127.0.0.1:7999/"

    monkeypatch.setattr(app, "launch", fake_launch)
    assert main(["--model", model_dir, "--port", "7999", "--max-upload-mb", "3"]) == 0
    assert calls == [
        {"host": "127.0.0.1", "port": 7999, "share": False, "max_upload_mb": 3.0, "block": False, "quiet": True}
    ]
    assert "http://127.0.0.1:7999/" in capsys.readouterr().out


def test_launch_passes_the_bind_address_and_upload_cap_to_gradio():
    from univlm.demo.app import launch

    class FakeBlocks:
        def launch(self, **kwargs):
            self.kwargs = kwargs
            return None, "http://127.0.0.1:7860/", None

    blocks = FakeBlocks()
    launch(blocks, block=False)
    assert blocks.kwargs["server_name"] == "127.0.0.1"
    assert blocks.kwargs["share"] is False
    assert blocks.kwargs["max_file_size"] == 50 * 2**20
    launch(blocks, max_upload_mb=2.5, block=False)
    assert blocks.kwargs["max_file_size"] == int(2.5 * 2**20)
    assert blocks.kwargs["prevent_thread_lock"] is True


def test_no_model_and_no_outputs_stage1_says_how_to_train(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("univlm demo: error: ") and "\n" not in err
    assert TRAIN_HINT in err


def test_bad_flags_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--port", "0"])
    assert exit_.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_without_gradio_the_error_names_the_demo_extra(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "gradio", None)  # what `import gradio` sees without the extra
    assert main(["--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("univlm demo: error: ") and "\n" not in err
    assert "pip install univlm[demo]" in err
