"""Prompts and generation: per-class prompts, shared-prefix runs, and batches that never mix experts."""

from types import SimpleNamespace

import pytest

from tests.evaluation import minidata
from univlm.evaluation.requests import Request, build_requests, generate, group_by_expert
from univlm.imaging import ImageLoadError
from univlm.models.router import route_from_config
from univlm.tasks import DEFAULT_ROUTER_TABLE


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("reqdata")
    _, records = minidata.build(root)
    return root, records


def test_build_requests_skips_and_counts_other_tasks(dataset):
    _, records = dataset
    requests, skipped = build_requests("change_detection", records)
    cd = next(r for r in records if r["id"] == "cd-1")
    assert [r.id for r in requests] == ["cd-1"] and requests[0].prompt == cd["messages"][0]["content"]
    assert sum(skipped.values()) == len(records) - 1
    assert skipped["1 image(s), task expects 2"] == 3


class RoutedPredictor:
    """Stand-in with a model config: records the experts of every call, answers with the prompt."""

    def __init__(self, router_table=None):
        self.model = SimpleNamespace(
            config=SimpleNamespace(router_table=router_table or dict(DEFAULT_ROUTER_TABLE))
        )
        self.calls = []

    def _experts(self, prompts):
        return {route_from_config(self.model.config, p).expert for p in prompts}

    def predict(self, images, prompt, **gen):
        self.calls.append(("predict", self._experts([prompt])))
        return SimpleNamespace(text=f"one:{prompt}")

    def predict_batch(self, items, **gen):
        self.calls.append(("batch", self._experts([p for _, p in items])))
        return [SimpleNamespace(text=f"batch:{p}") for _, p in items]

    def predict_many(self, images, prompts, labels=None, **gen):
        self.calls.append(("many", self._experts(prompts)))
        return [SimpleNamespace(text=f"many:{lab[0]}") for lab in labels]


def _mixed_requests():
    tags = ["[CLS] a", "[VG] b", "[SEG] c", "[VQA] d", "[REF] e", "[SEG] f", "[CAP] g", "[VG] h"]
    return [Request(f"r{i}", None, ("images/a.png",), f"<image>\n{t}") for i, t in enumerate(tags)]


def test_each_batch_holds_one_expert_and_rows_keep_input_order(dataset):
    root, _ = dataset
    requests = _mixed_requests()
    predictor = RoutedPredictor()
    rows = generate(predictor, requests, root, batch_size=2)
    assert all(len(experts) == 1 for _, experts in predictor.calls)
    assert [next(iter(e)) for _, e in predictor.calls] == ["image", "image", "region", "region", "pixel"]
    assert [r["id"] for r in rows] == [r.id for r in requests]
    assert [r["text"] for r in rows] == [f"batch:{r.prompt}" for r in requests]


def test_grouping_follows_the_model_configs_router_table(dataset):
    root, _ = dataset
    requests = _mixed_requests()
    table = dict(DEFAULT_ROUTER_TABLE, **{"[VG]": "pixel", "[REF]": "pixel"})  # edited config.json
    groups = group_by_expert(RoutedPredictor(table), requests)
    assert groups == [[0, 3, 6], [1, 2, 4, 5, 7]]
    predictor = RoutedPredictor(table)
    rows = generate(predictor, requests, root, batch_size=8)
    assert [e for _, e in predictor.calls] == [{"image"}, {"pixel"}]
    assert [r["id"] for r in rows] == [r.id for r in requests]


def test_per_class_prompts_share_the_image_prefix_inside_their_expert_group(dataset):
    root, records = dataset
    sem = [r for r in records if r["id"] == "sem-1"]
    per_class, _ = build_requests("semseg_mmseg", sem)
    singles, _ = build_requests("vqa", records)
    predictor = RoutedPredictor()
    rows = generate(predictor, singles + per_class + singles[:1], root, batch_size=4)
    assert predictor.calls == [("batch", {"image"}), ("many", {"pixel"})]
    assert [(r["id"], r.get("label")) for r in rows] == [
        ("vqa-1", None),
        ("vqa-2", None),
        ("sem-1", "building"),
        ("sem-1", "water"),
        ("vqa-1", None),
    ]
    assert rows[2]["text"] == "many:building" and rows[4]["text"].startswith("batch:")


def test_without_predict_batch_each_prompt_is_one_call(dataset):
    root, _ = dataset

    class Single:
        def __init__(self):
            self.prompts = []

        def predict(self, images, prompt, **gen):
            self.prompts.append(prompt)
            return SimpleNamespace(text=prompt[-1])

    predictor = Single()
    requests = _mixed_requests()
    rows = generate(predictor, requests, root, batch_size=4)
    assert [r["text"] for r in rows] == list("abcdefgh")
    assert [p[-1] for p in predictor.prompts] == list("adgbehcf")  # image, region, pixel groups


def test_unloadable_images_are_reported_and_their_prompts_skipped(dataset, tmp_path):
    root, _ = dataset
    outside = tmp_path / "outside.png"
    outside.write_bytes((root / "images/a.png").read_bytes())
    requests = [
        Request("ok", None, ("images/a.png",), "<image>\n[VQA] a"),
        Request("escape", None, (str(outside),), "<image>\n[VQA] b"),
        Request("gone", None, ("images/missing.png",), "<image>\n[VQA] c"),
    ]
    failures = []
    rows = generate(RoutedPredictor(), requests, root, batch_size=4, failures=failures)
    assert [r["id"] for r in rows] == ["ok"]
    assert [f.split(":")[0] for f in failures] == ["escape", "gone"] and "outside.png" in failures[0]
    rows = generate(RoutedPredictor(), requests[:2], root, batch_size=4, allow_outside_root=True)
    assert [r["id"] for r in rows] == ["ok", "escape"]
    with pytest.raises(ImageLoadError):
        generate(RoutedPredictor(), requests[:2], root)
