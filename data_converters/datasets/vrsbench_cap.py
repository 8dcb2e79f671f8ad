"""VRSBench-Cap: detailed captions of 29k remote-sensing patches (512 x 512 px) -> [CAP].

Link: https://huggingface.co/datasets/xiang709/VRSBench
Citation: Li, Ding and Elhoseiny, "VRSBench: A versatile vision-language benchmark dataset for
remote sensing image understanding", NeurIPS Datasets and Benchmarks 2024.
"""

from data_converters.families.vrsbench_json import vrsbench

CONVERTER = vrsbench("cap", name="vrsbench-cap", title="VRSBench (captions)", tasks=("CAP",))
