"""Pure metric functions, one module per task family.

Every function here takes plain Python/numpy values (strings, boxes, arrays, per-sample
intersection/union counts) and returns plain dicts of floats, so the numbers can be checked by hand and
reused outside univlm. Parsing model answers and loading ground truth live in
:mod:`univlm.evaluation.runner`.
"""
