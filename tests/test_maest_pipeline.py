"""pipelines/maest_discogs20.toml builds Discogs20 with the discogs20 pipeline's own command lines (so one
workspace builds it once) and passes the seed's MAEST numbers to train (seed 004 ch. 6)."""

from __future__ import annotations

from discogs_tools.pipeline import load_pipeline


def test_maest_shares_the_discogs20_data_stages(tmp_path):
    ws = tmp_path / "ws"
    maest = {s.name: s.argv(ws) for s in load_pipeline("maest_discogs20", ws).stages}
    discogs20 = {s.name: s.argv(ws) for s in load_pipeline("discogs20", ws).stages}
    for stage in ("ingest-discogs", "ingest-collection", "match-discogs", "build-dataset", "features"):
        assert maest[stage] == discogs20[stage], stage


def test_segment_variables_set_the_segment_and_its_time_patchout(tmp_path):
    # seed 004 sec. 6.3.6: 15, 30, 60, 90 time patches for 5, 10, 20, 30 s
    from discogs_tools.train.backbones_maest import (
        default_time_patchout,
        segment_frames,
    )

    default = dict(next(s for s in load_pipeline("maest_discogs20", tmp_path).stages if s.name == "train-maest").options)
    assert (int(default["crop_frames"]), int(default["patchout_time"])) == (segment_frames(30), 90)
    for seconds, patchout in ((5, 15), (10, 30), (20, 60)):
        frames = segment_frames(seconds)
        pipe = load_pipeline("maest_discogs20", tmp_path, {"frames": str(frames), "time_patchout": str(patchout)})
        options = dict(next(s for s in pipe.stages if s.name == "train-maest").options)
        assert int(options["crop_frames"]) == frames and int(options["patchout_time"]) == default_time_patchout(frames)
