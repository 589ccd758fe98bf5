"""How the bundled example of ``match-eval --set pairs`` (sample_data/pairs_example/) is made from
the bundled MusicBrainz 20K extract; ``test_match_eval_pairs`` checks the bundled files against it.

tableA: the records of sources 1-4, tableB: the records of source 5 (fields as the sources write
them, the length as ``m:ss`` and missing values empty). test.csv: every (A, B) pair of one cluster
(a match) and, for each A record, up to two B records of other clusters that share a word of four
or more letters with its title or artist, else random ones of a generator seeded by its TID (two non-matches each, the look-alikes
first, as a benchmark's blocking would give)."""

from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path

from discogs_tools.match.musicbrainz20k import _value, fixture_path, mixed_up_title, read_records, record_length

COLUMNS = ["id", "title", "artist", "album", "length", "year"]


def _mss(seconds: float | None) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}" if seconds else ""


def _words(rec: dict[str, str]) -> set[str]:
    return {w for w in re.findall(r"\w+", f"{rec['title']} {rec['artist']}".casefold()) if len(w) >= 4}


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def make(source: Path | None = None, reference_as_text: bool = False) -> dict[str, str]:
    """File name -> text of the example set (from the bundled extract, or the full benchmark file).

    ``reference_as_text``: every tableB record written as one text in its title column by issue
    16's recipe (artist + title + album + price + m:ss + year; price drawn by a generator seeded
    by its TID), its other columns empty: a "dirty" reference."""
    recs = list(read_records(source or fixture_path()))
    a = [r for r in recs if r["SourceID"].strip() != "5"]
    b = [r for r in recs if r["SourceID"].strip() == "5"]

    def row(r: dict[str, str]) -> list[str]:
        return [r["TID"], _value(r["title"]) or "", _value(r["artist"]) or "", _value(r["album"]) or "",
                _mss(record_length(r)), _value(r["year"]) or ""]

    def text_row(r: dict[str, str]) -> list[str]:
        return [r["TID"], mixed_up_title(r, random.Random(int(r["TID"]))), "", "", "", ""]

    words = {r["TID"]: _words(r) for r in recs}
    pairs = [["ltable_id", "rtable_id", "label"]]
    for ra in a:
        same = [rb for rb in b if rb["CID"] == ra["CID"]]
        others = [rb for rb in b if rb["CID"] != ra["CID"]]
        random.Random(int(ra["TID"])).shuffle(others)
        near = sorted(others, key=lambda rb: not words[ra["TID"]] & words[rb["TID"]])[:2]
        pairs += [[ra["TID"], rb["TID"], "1"] for rb in same] + [[ra["TID"], rb["TID"], "0"] for rb in near]
    return {"tableA.csv": _csv([COLUMNS] + [row(r) for r in a]), "tableB.csv": _csv([COLUMNS] + [(text_row if reference_as_text else row)(r) for r in b]),
            "test.csv": _csv(pairs)}


if __name__ == "__main__":  # python tests/pairs_example.py [BENCHMARK_FILE OUT_FOLDER [--reference-as-text]]
    import sys

    args = [a for a in sys.argv[1:] if a != "--reference-as-text"]
    default = Path(__file__).resolve().parents[1] / "discogs_tools" / "sample_data" / "pairs_example"
    source, out = (Path(args[0]), Path(args[1])) if len(args) == 2 else (None, default)
    out.mkdir(exist_ok=True)
    for name, text in make(source, "--reference-as-text" in sys.argv).items():
        (out / name).write_text(text, encoding="utf-8")
