"""GeoChat-Instruct: 318k remote-sensing instructions in LLaVA format (GeoChat's fine-tuning set).

Link: https://huggingface.co/datasets/MBZUAI/GeoChat_Instruct
Citation: Kuckreja et al., "GeoChat: Grounded large vision-language model for remote sensing",
CVPR 2024.
"""

from data_converters.base import DatasetCard
from data_converters.families.llava_json import llava_instructions

CARD = DatasetCard(
    name="geochat-instruct",
    title="GeoChat-Instruct",
    url="https://huggingface.co/datasets/MBZUAI/GeoChat_Instruct",
    citation=(
        "@inproceedings{kuckreja2024geochat, title={GeoChat: Grounded large vision-language model for remote "
        "sensing}, author={Kuckreja, Kartik and Danish, Muhammad Sohail and Naseer, Muzammal and Das, "
        "Abhijit and Khan, Salman and Khan, Fahad Shahbaz}, booktitle={CVPR}, year={2024}}"
    ),
    layout="""\
<src>/
  GeoChat_Instruct.json   ([{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]}])
  images/<image>          (cat images_parta* > images.zip; unzip into images/)
""",
    notes="Boxes {<x1><y1><x2><y2>|<theta>} on a 0..100 grid; the angle is dropped. One split (train).",
)

CONVERTER = llava_instructions(CARD, json_file="GeoChat_Instruct.json", image_dir="images")
