"""``univlm demo`` end to end in a real browser: headless Debian Chromium driven by Playwright.

The demo serves a tiny random model on a free localhost port; the browser uploads synthetic images,
picks a task, types its input, runs it and reads the result panel. Every request the page makes
to anything but the demo server is blocked and recorded, so the test also proves that the page
works offline. The one skip: no Chromium on this machine (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.inference._tiny import one_torch_thread, save_tiny_univlm

CHROMIUM = os.environ.get("UNIVLM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ANSWER_TIMEOUT_MS = 120_000  # a generous ceiling for a loaded CI machine, not a speed assertion

_threads = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo on a free localhost port, with a tiny model and an 8x8 mask grid (fast answers)."""
    from univlm.demo.app import build_demo, launch
    from univlm.inference import Predictor

    model = save_tiny_univlm(tmp_path_factory.mktemp("demo_model"))
    demo = build_demo(Predictor.from_pretrained(model, grid=8), max_upload_mb=1)
    url = launch(demo, port=_free_port(), block=False, quiet=True, max_upload_mb=1)
    yield url
    demo.close()


def _scene_pair():
    """A before/after pair of univlm's synthetic aerial scenes (buildings added or removed)."""
    import numpy as np
    from PIL import Image

    from univlm.data.synth_scene import DIFFICULTIES, change_scene, make_scene, render

    easy = DIFFICULTIES["easy"]
    for seed in range(20):
        gen = np.random.default_rng(seed)
        before = make_scene(gen, 256, easy)
        changed = change_scene(gen, before, easy)
        if changed is not None:
            return [Image.fromarray(render(scene, easy).rgb) for scene in (before, changed[0])]
    raise AssertionError("no change pair in 20 synthetic scenes")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("demo_images")
    paths = {}
    for name, image in zip(("before.png", "after.png"), _scene_pair()):
        image.save(folder / name)
        paths[name] = str(folder / name)
    (folder / "broken.png").write_bytes(b"this is not a png")
    paths["broken.png"] = str(folder / "broken.png")
    noise = np.random.default_rng(0).integers(0, 256, size=(800, 800, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "huge.png")  # ~1.9 MB of incompressible noise: over the 1 MB cap
    paths["huge.png"] = str(folder / "huge.png")
    return paths


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        print(f"skipping the browser test: no Chromium at {CHROMIUM} (apt-get install -y chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")),  # a fresh profile every run
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        outside: list[str] = []

        def only_localhost(route):
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_localhost)
        yield context, outside
        context.close()


@pytest.fixture
def page(browser_context, server):
    context, outside = browser_context
    page = context.new_page()
    page.goto(server)
    page.locator("#run").wait_for()
    yield page
    page.close()
    assert outside == [], f"the page tried to reach the network: {outside}"


def _pick(page, task: str, text: str | None, uploads: dict[str, str]) -> None:
    from playwright.sync_api import expect

    from univlm.demo import TASKS, build_prompts

    page.get_by_role("radio", name=task, exact=True).check()

    # Wait for the server's reply to the task switch (the task's default input and prompt) before
    # typing: a reply that lands after the fill puts the default back ("building, road": two prompts).
    spec = TASKS[task]
    if spec.input_label:
        expect(page.locator("#task-input").get_by_role("textbox")).to_have_value(spec.default)
    expect(page.locator("#prompt").get_by_role("textbox")).to_have_value(build_prompts(task, spec.default))
    for slot, path in uploads.items():
        page.locator(f"#{slot} input[type=file]").set_input_files(path)
        expect(page.locator(f"#{slot}")).to_contain_text(Path(path).name)
    if text is not None:
        page.locator("#task-input").get_by_role("textbox").fill(text)
        # The advanced box is what runs: wait until the picker has rebuilt it from the new input, i.e.
        # it holds exactly one prompt line per comma-separated item (segmentation) or one line, and
        # the last line names the last item. Matching the item alone raced with the previous
        # default ("building, road" holds "building" too).
        items = [t.strip() for t in text.split(",")] if task == "segmentation" else [text.strip()]
        lines = r"[^\n]*\n" * (len(items) - 1)
        expect(page.locator("#prompt").get_by_role("textbox")).to_have_value(
            re.compile(rf"^{lines}[^\n]*{re.escape(items[-1])}[^\n]*$")
        )


def _run(page, shot: Path) -> dict[str, str]:
    from playwright.sync_api import expect

    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("Done", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#overlay img")).to_be_visible()
    page.screenshot(path=str(shot), full_page=True)
    body = page.locator("body").inner_text()
    assert "Error" not in body, body
    return {
        key: page.locator(f"#{key}").get_by_role("textbox").input_value()
        for key in ("boxes", "answer", "problems")
    }


def test_grounding_draws_and_lists_a_box(page, images, tmp_path):
    _pick(page, "grounding", "the largest building", {"image1": images["before.png"]})
    assert page.locator("#prompt").get_by_role("textbox").input_value() == "[VG] the largest building"
    out = _run(page, tmp_path / "grounding.png")
    assert re.match(r"box 1: \[\d+, \d+, \d+, \d+\] \(0\.\.100\); pixels \[\d+, \d+, \d+, \d+\]", out["boxes"])
    assert re.fullmatch(r"\[\d+, \d+, \d+, \d+\]", out["answer"].strip())
    assert (tmp_path / "grounding.png").stat().st_size > 0


def test_segmentation_of_two_classes_is_one_overlay(page, images, tmp_path):
    _pick(page, "segmentation", "building, road", {"image1": images["before.png"]})
    prompts = page.locator("#prompt").get_by_role("textbox").input_value().splitlines()
    assert prompts == ["[SEG] Can you segment the building in this image?", "[SEG] Can you segment the road in this image?"]
    out = _run(page, tmp_path / "segmentation.png")
    assert out["answer"].count("<seg>") == 2 and out["boxes"] == ""
    assert page.locator("#overlay img").count() == 1


def test_change_detection_takes_two_images(page, images, tmp_path):
    page.get_by_role("radio", name="change detection", exact=True).check()
    from playwright.sync_api import expect

    expect(page.locator("#image2")).to_be_visible()
    _pick(page, "change detection", "building", {"image1": images["before.png"], "image2": images["after.png"]})
    out = _run(page, tmp_path / "change_detection.png")
    assert out["answer"].startswith("<seg>")


def test_a_broken_upload_is_a_message_in_the_page(page, images):
    from playwright.sync_api import expect

    _pick(page, "grounding", "a road", {"image1": images["broken.png"]})
    expect(page.locator("#status")).to_contain_text("broken.png: cannot open as an image")
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("Error: broken.png")
    assert "Traceback" not in page.locator("body").inner_text()


def test_an_upload_over_the_cap_is_refused_with_a_message(page, images):
    from playwright.sync_api import expect

    page.locator("#image1 input[type=file]").set_input_files(images["huge.png"])
    expect(page.locator("body")).to_contain_text("exceed the maximum allowed size")
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("Error: upload an image first")
    assert "Traceback" not in page.locator("body").inner_text()


def test_chat_keeps_turns_through_the_same_predictor(page, images):
    from playwright.sync_api import expect

    page.locator("#image1 input[type=file]").set_input_files(images["before.png"])
    expect(page.locator("#image1")).to_contain_text("before.png")
    page.get_by_role("button", name=re.compile("^Chat")).click()
    for turn in ("[VG] a road", "[CAP] Describe this image."):
        page.locator("#chat-input").get_by_role("textbox").fill(turn)
        page.locator("#chat-send").click()
        expect(page.locator("#chat")).to_contain_text(turn, timeout=ANSWER_TIMEOUT_MS)
        expect(page.locator("#chat-input").get_by_role("textbox")).to_have_value("", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#chat")).to_contain_text(re.compile(r"\[\d+, \d+, \d+, \d+\]"))
    assert "Error" not in page.locator("body").inner_text()


def test_a_geotiff_scene_runs_tiled_and_offers_downloads(page, tmp_path):
    from playwright.sync_api import expect

    from tests.geo._scenes import building_scene, write_scene

    scene = write_scene(tmp_path / "scene.tif", building_scene(300, 200, building=(100, 75, 130, 100), margin=20))
    _pick(page, "segmentation", "building", {"image1": str(scene)})
    expect(page.locator("#status")).to_contain_text("GeoTIFF scene")
    out = _run(page, tmp_path / "geotiff.png")
    assert out["answer"].startswith("tile ")
    geojson = page.locator("#downloads a[href$='/scene.geojson']")
    expect(geojson).to_have_count(1)
    expect(page.locator("#downloads a[href$='/scene_labels.tif']")).to_have_count(1)
    collection = page.request.get(geojson.get_attribute("href")).json()
    assert collection["type"] == "FeatureCollection"
