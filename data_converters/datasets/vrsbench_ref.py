"""VRSBench-Ref: 52k object referring sentences with boxes on 512 x 512 px patches -> [VG] (and [REF]).

Link: https://huggingface.co/datasets/xiang709/VRSBench
Citation: Li, Ding and Elhoseiny, "VRSBench: A versatile vision-language benchmark dataset for
remote sensing image understanding", NeurIPS Datasets and Benchmarks 2024.
"""

from data_converters.families.vrsbench_json import vrsbench

CONVERTER = vrsbench(
    "ref", name="vrsbench-ref", title="VRSBench (referring)", tasks=("VG", "REF"), default_tasks=("VG",)
)
