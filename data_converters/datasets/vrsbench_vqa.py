"""VRSBench-VQA: 123k question-answer pairs on 512 x 512 px patches -> [VQA].

Link: https://huggingface.co/datasets/xiang709/VRSBench
Citation: Li, Ding and Elhoseiny, "VRSBench: A versatile vision-language benchmark dataset for
remote sensing image understanding", NeurIPS Datasets and Benchmarks 2024.
"""

from data_converters.families.vrsbench_json import vrsbench

CONVERTER = vrsbench("vqa", name="vrsbench-vqa", title="VRSBench (VQA)", tasks=("VQA",))
