import pytest

from univlm.evaluation.registry import (
    METRICS,
    TaskSpecError,
    builtin_tasks,
    get_task,
    load_task_file,
    parse_task,
)

VALID = {"name": "t", "record_task": "VG", "parser": "boxes", "metric": "grounding", "protocol": "pixel"}


def test_builtin_tasks_cover_every_metric_family_and_protocol():
    tasks = builtin_tasks()
    covered = {(t.metric, t.protocol) for t in tasks.values()}
    assert covered == {(m, p) for m, (protocols, _) in METRICS.items() for p in protocols}
    assert tasks["semseg_mmseg"].per_class and not tasks["vg_vrsbench"].per_class
    assert tasks["rsvqa_hr"].options["exclude"] == ["count", "area"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"protocol": "coco"}, "protocol"),
        ({"parser": "masks"}, "parser"),
        ({"metric": "bleu"}, "metric"),
        ({"record_task": "DET"}, "record_task"),
        ({"prompt": "no placeholder"}, "prompt"),
        ({"num_images": 0}, "num_images"),
        ({"colour": "red"}, "colour"),
        ({"name": None}, "name"),
    ],
)
def test_invalid_task_names_file_and_field(change, field):
    data = {**VALID, **change}
    with pytest.raises(TaskSpecError, match=rf"^my\.yaml: {field}: "):
        parse_task({k: v for k, v in data.items() if v is not None}, source="my.yaml")


def test_task_files_and_unknown_names(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nrecord_task: VG\nparser: first_four_ints\nmetric: grounding\nprotocol: vrsbench\n"
    )
    assert get_task(str(path)) == load_task_file(path)
    assert get_task(str(path)).source == str(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(TaskSpecError, match="invalid YAML"):
        load_task_file(path)
    with pytest.raises(KeyError, match="known tasks: .*vg_pixel"):
        get_task("vg_pxl")
