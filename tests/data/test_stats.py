"""``stats``: counts per task/granularity/source and length summaries."""

from __future__ import annotations

from univlm.data.stats import compute_stats, format_stats, record_length


def _rec(task, gran, source, answer):
    return {"task": task, "granularity": gran, "source": source,
            "messages": [{"role": "user", "content": "<image>\n[X] q"}, {"role": "assistant", "content": answer}]}


RECORDS = [_rec("VG", "region", "a/train", "[1, 2, 3, 4]"), _rec("CLS", "image", "a/train", "farmland"),
           _rec("CLS", "image", "b/val", "forest")]


def test_counts_and_character_lengths():
    stats = compute_stats(RECORDS)
    assert stats["records"] == 3
    assert stats["tasks"] == {"CLS": 2, "VG": 1}
    assert stats["granularities"] == {"image": 2, "region": 1}
    assert stats["sources"] == {"a/train": 2, "b/val": 1}
    assert stats["unit"] == "characters"
    lengths = sorted(len("<image>\n[X] q") + len(r["messages"][1]["content"]) for r in RECORDS)
    assert stats["lengths"]["min"] == lengths[0] and stats["lengths"]["max"] == lengths[-1]
    assert stats["lengths"]["median"] == lengths[1]
    assert stats["lengths_by_task"]["VG"]["n"] == 1
    text = format_stats(stats)
    assert "CLS: 2" in text and "length (characters):" in text


def test_token_lengths_use_chat_template(tiny_tokenizer):
    stats = compute_stats(RECORDS, tiny_tokenizer)
    assert stats["unit"] == "tokens"
    n = record_length(RECORDS[0], tiny_tokenizer)
    text = tiny_tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in RECORDS[0]["messages"]], tokenize=False)
    assert "<|im_start|>assistant" in text
    assert n == len(tiny_tokenizer(text, add_special_tokens=False)["input_ids"]) > 0
    assert stats["lengths_by_task"]["VG"]["max"] == n


def test_empty_input():
    stats = compute_stats([])
    assert stats["records"] == 0 and stats["lengths"] == {"n": 0}
    assert "n=0" in format_stats(stats)
