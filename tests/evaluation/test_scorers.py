"""Scorers: the task's ``parser:`` field decides how answers are read."""

from dataclasses import replace

import pytest

from tests.evaluation import minidata
from univlm.evaluation import registry
from univlm.evaluation.registry import get_task
from univlm.evaluation.runner import score
from univlm.evaluation.scorers import PARSERS, SCORERS


def test_every_declared_parser_and_metric_has_an_implementation():
    assert set(PARSERS) == set(registry.PARSERS)
    assert set(SCORERS) == set(registry.METRICS)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("scorerdata")
    _, records = minidata.build(root)
    return root, records


def test_grounding_reads_answers_with_the_tasks_parser(dataset):
    root, records = dataset
    answer = {"vg-1": "object 3: [11, 11, 16, 16]"}
    regex = get_task("vg_vrsbench")  # parser first_four_ints: VRSBench's regex takes 3, 11, 11, 16
    codec = replace(regex, parser="boxes")  # the box codec finds the bracketed box
    assert score(regex, answer, records, root)["scores"]["acc@0.5"] == 0.0
    res = score(codec, answer, records, root)
    assert res["scores"]["acc@0.5"] == 1.0 and res["details"]["parser"] == "boxes"
    assert (
        score(replace(get_task("vg_pixel"), parser="first_four_ints"), answer, records, root)["counts"][
            "unparsable"
        ]
        == 0
    )
