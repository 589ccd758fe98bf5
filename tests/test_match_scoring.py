"""Scoring: named weighted penalties, components left out when unknown, gates, config checks."""

from __future__ import annotations

import numpy as np
import pytest

from discogs_tools.errors import ConfigError
from discogs_tools.match.scoring import (MatchConfig, combine, duration_penalty, passes_gates, text_similarity,
                                         title_similarity)

CFG = MatchConfig()


def test_duration_penalty_is_free_within_tolerance_then_linear():
    diffs = np.array([0.0, CFG.duration_tolerance_s, (CFG.duration_tolerance_s + CFG.duration_max_s) / 2,
                      CFG.duration_max_s, 600.0])
    assert duration_penalty(diffs, CFG).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_unknown_components_cost_nothing():
    one = np.ones(1)
    known = combine(one, one, np.array([0.0]), np.array([600.0]), CFG)[0]
    unknown = combine(one, one, np.array([np.nan]), np.array([np.nan]), CFG)[0]
    assert unknown == 1.0
    expected = 1 - (CFG.weight_album + CFG.weight_duration) / (
        CFG.weight_title + CFG.weight_artist + CFG.weight_album + CFG.weight_duration)
    assert known == pytest.approx(expected)


def test_weights_move_the_score():
    t, a = np.array([0.8]), np.array([1.0])
    title_heavy = combine(t, a, None, None, MatchConfig(weight_title=9.0))[0]
    artist_heavy = combine(t, a, None, None, MatchConfig(weight_artist=9.0))[0]
    assert title_heavy < artist_heavy


def test_similarity_handles_order_and_missing():
    sim = text_similarity(["simon and garfunkel", "abc", ""], ["garfunkel and simon", "abd", "x"])
    assert sim[0] == 1.0 and 0.5 < sim[1] < 1.0 and sim[2] == 0.0


def test_version_words_cap_title_similarity():
    sim = title_similarity(["the fear of being crushed live"], ["the fear of being crushed"], CFG)
    assert sim[0] == CFG.version_mismatch_sim
    assert not passes_gates(sim, np.ones(1), CFG)[0]


@pytest.mark.parametrize("kwargs", [{"threshold": 1.5}, {"weight_title": -1}, {"duration_max_s": 1.0},
                                    {"max_candidates": 0}, {"weight_title": 0, "weight_artist": 0}])
def test_invalid_config_is_rejected(kwargs):
    with pytest.raises(ConfigError):
        MatchConfig(**kwargs)


def test_duration_tolerance_grows_with_long_tracks():
    # Frampton Comes Alive!, two pressings in the 2020-08 sample: "Do You Feel Like We Do" 826 s and 855 s
    long_pair = duration_penalty(np.array([29.0]), CFG, np.array([855.0]))[0]
    short_pair = duration_penalty(np.array([29.0]), CFG, np.array([240.0]))[0]
    assert long_pair < 0.25 and short_pair > 0.9


def test_a_title_ending_with_the_album_is_compared_without_it():
    from discogs_tools.match.normalize import album_key, title_key
    from discogs_tools.match.scoring import MatchConfig, title_similarity

    cfg = MatchConfig()

    def sim(title, ref_title, album_a=None, album_b=None):
        return title_similarity([title_key(title)], [title_key(ref_title)], cfg,
                                [album_key(album_a) or None], [album_key(album_b) or None])[0]

    assert sim("Why Not - The Lizzie McGuire Movie", "Why Not", None, "The Lizzie McGuire Movie") == 1.0
    assert sim("Pitch Black (Rotten to the Core)", "Pitch Black", "Rotten to the Core") == 1.0
    assert sim("Love Story", "Love", None, "Story") < 0.75  # a one-word album may be the title's own word
    # the album's version words must be on the other side: a live album's track is not the studio one
    assert sim("Love of My Life (Live Killers)", "Love of My Life", "Live Killers", "A Night at the Opera") <= 0.5
