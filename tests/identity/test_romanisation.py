"""Latin -> pinyin readings for blocking: the likeliest readings of every syllable are kept within the limit."""

from __future__ import annotations

from passage.identity.romanisation import latin_to_pinyin_keys


def test_two_syllable_cantonese_given_names_keep_the_common_reading_of_both_syllables() -> None:
    # 秀平 (Cantonese Sau Peng) and 晓杰 (Jyutping Hiu Git): before the readings were ordered by how many
    # characters stand behind them, and combined best first, the limit of 24 cut both off.
    assert "xiuping" in latin_to_pinyin_keys("SAU PENG", limit=24)
    assert "xiaojie" in latin_to_pinyin_keys("Hiu git", limit=24)
    assert "xiaxin" in latin_to_pinyin_keys("Ha yan", limit=24)


def test_readings_start_with_the_written_form_and_respect_the_limit() -> None:
    keys = latin_to_pinyin_keys("Wei-ming", limit=8)
    assert keys[0] == "weiming" and len(keys) <= 8 and len(set(keys)) == len(keys)
    # Cantonese Wong: the written form first, then 黄 huang and 王 wang (many characters / common surnames) before rare readings.
    wong = latin_to_pinyin_keys("Wong", limit=4)
    assert wong[0] == "wong" and {"huang", "wang"} <= set(wong)
    assert latin_to_pinyin_keys("", limit=4) == ()


def test_best_first_combinations_equal_sorting_the_whole_product() -> None:
    import heapq
    import itertools
    import random

    from passage.identity.romanisation import _likeliest

    rng = random.Random(1)
    for _ in range(200):
        options = [[f"{t}{i}" for i in range(rng.randint(1, 8))] for t in "abc"[:rng.randint(1, 3)]]
        limit = rng.randint(1, 30)
        best = heapq.nsmallest(limit, itertools.product(*(range(len(o)) for o in options)), key=lambda ix: (sum(ix), ix))
        assert _likeliest(options, limit) == ["".join(o[i] for o, i in zip(options, ix, strict=True)) for ix in best]
