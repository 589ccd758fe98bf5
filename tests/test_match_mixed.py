"""The mixed-up-field fallback: no artist, the title field holding the whole record.

Collection rows are built the way the issue saw them (artist + title + album + genre + price +
m:ss + date in the title column, other columns empty) from tracks of the real Discogs sample,
then go through the real `ingest collection` and `match` stages.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import read_table
from discogs_tools.match import mixed, stage
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"

MIXED = [
    # track_id, title field (artist + title + album + genre + price + duration + date), Discogs release
    ("ostermalm", "The Persuader Östermalm Stockholm Techno $0.99 4:47 Mar 1, 1999", 1),
    ("kungsholmen", "Persuader, The - Kungsholmen - Stockholm - Electronic - 1,29 € - 2:49 - 1999-03-01", 1),
    ("funeral", "Funeral Circle Burning A Sinner Lord Vicar / Funeral Circle Doom Metal $1.29 3:37 2008", None),
    ("absent", "Nobody Known A Song Not In Any Sample Rock $1.29 3:20 Jan 24, 2011", None),
    ("other-part", "The Persuader Östermalm Part 2 Stockholm Techno $0.99 4:47 1999", None),
    ("numbered", "The Persuader 03-Östermalm Stockholm Techno $0.99 4:47 1999", 1),
]


@pytest.fixture(scope="module")
def mixed_ws(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("mixed") / "workspace").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    manifest = ws.root.parent / "mixed.parquet"
    pq.write_table(pa.table({"track_id": [m[0] for m in MIXED], "artist": pa.array([None] * len(MIXED), pa.string()),
                             "title": [m[1] for m in MIXED]}), manifest)
    collection_ingest.run(manifest, ws)
    stage.run(ws, "discogs")
    return ws


def test_parse_takes_out_price_date_and_duration():
    parsed = mixed.parse("Adele Rolling in the Deep 21 Pop $1.29 3:48 Jan 24, 2011")
    assert parsed.duration_s == 228.0
    assert parsed.words == ("adele", "rolling", "in", "the", "deep", "21", "pop")
    assert mixed.parse("Song Pt. II 1:02:03").duration_s == 3723.0
    assert mixed.parse("Song Pt. II").marks == {"2"}


def test_parse_drops_a_zero_padded_track_number_before_the_title():
    assert mixed.parse("Jewel 001-Stronger Woman Perfectly Clear $0.99 4:02").words == (
        "jewel", "stronger", "woman", "perfectly", "clear")
    assert mixed.parse("Artist 07 - Song Album").words == ("artist", "song", "album")
    assert mixed.parse("Dead Moon 0B2-Don't Burn the Fires Live Evil").words[:3] == ("dead", "moon", "dont")
    assert mixed.parse("Dead Moon B2 - Don't Burn the Fires").words[:3] == ("dead", "moon", "dont")
    assert mixed.parse("Vampire Weekend A-Punk").words == ("vampire", "weekend", "a", "punk")
    # a number that is the title, or a part number, stays
    assert "007" in mixed.parse("Bond 007 Skyfall 2012").words
    assert mixed.parse("Song Vol. 02 Album").words == ("song", "vol", "02", "album")


def test_mixed_up_records_link_to_their_release(mixed_ws):
    links = read_table(mixed_ws.table("links/track_releases")).to_pylist()
    by_track: dict[str, set[int]] = {}
    for link in links:
        by_track.setdefault(link["track_id"], set()).add(link["release_id"])
        assert link["method"] in ("text", "master")
    assert 1 in by_track.get("ostermalm", set())
    assert 1 in by_track.get("kungsholmen", set())
    assert 1 in by_track.get("numbered", set())  # "03-Östermalm": the track number is not read as a word
    best = {b["track_id"]: b for b in read_table(mixed_ws.table("match/discogs_best")).to_pylist()}
    assert best["ostermalm"]["ref_title"] == "Östermalm"
    assert best["kungsholmen"]["ref_title"] == "Kungsholmen"
    assert best["funeral"]["matched"] and best["funeral"]["ref_title"].lower() == "burning a sinner"


def test_mixed_up_records_of_other_recordings_stay_unlinked(mixed_ws):
    linked = {l["track_id"] for l in read_table(mixed_ws.table("links/track_releases")).to_pylist()}
    assert "absent" not in linked
    assert "other-part" not in linked  # "Part 2" is not the Östermalm the sample has


def test_mixed_up_records_and_overrides_against_playlists(tmp_path):
    """The issue's pipeline: a playlists reference, mixed-up collection rows, a forced link."""
    from playlist_reference import write_playlist_tracks

    ws = Workspace(tmp_path / "workspace").ensure()
    write_playlist_tracks(ws)
    manifest = tmp_path / "mixed.csv"
    manifest.write_text(
        "track_id,artist,title\n"
        "deep,,Adele Rolling in the Deep 21 Pop $1.29 3:48 Jan 24, 2011\n"
        "pearl2,,Kanye West Crack In the Pearl Part 2 My Beautiful Dark Twisted Fantasy Hip-Hop $1.29 3:09 2010\n"
        "hello,,Adele Hello 25 Pop $1.29 4:55 Oct 23, 2015\n", encoding="utf-8")
    collection_ingest.run(manifest, ws)
    stage.run(ws, "playlists")
    got = {(l["track_id"], l["track_key"]) for l in read_table(ws.table("links/track_playlist_tracks")).to_pylist()}
    assert got == {("deep", "spotify:track:1"), ("pearl2", "spotify:track:4")}  # not "21", not Pt. I
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("track_id,track_key,action\nhello,spotify:track:2,force\ndeep,spotify:track:1,forbid\n",
                         encoding="utf-8")
    stage.run(ws, "playlists", overrides=overrides)
    got = {(l["track_id"], l["track_key"], l["method"])
           for l in read_table(ws.table("links/track_playlist_tracks")).to_pylist()}
    assert got == {("pearl2", "spotify:track:4", "text"), ("hello", "spotify:track:2", "override")}


def test_a_title_whose_leading_article_the_key_drops_still_follows_the_artist():
    # "Le aquile" is keyed "aquile" (articles of every language are dropped, as "The"); the "le"
    # between the artist and the title is the title's own article, not a foreign word
    from discogs_tools.match.normalize import album_key, artist_key, title_key

    text = mixed.parse("Alice Le aquile Gioielli rubati Pop $0.99 2:55 1985")
    ref = {"title_key": title_key("Le aquile"), "artist_key": artist_key("Alice"), "anv_key": None,
           "album_key": album_key("Gioielli rubati")}
    assert mixed.similarities(text, ref, 0.5) == (1.0, 1.0)
    other = {**ref, "title_key": title_key("Gioielli rubati")}  # the album's name is not its title track
    assert mixed.similarities(text, other, 0.5)[0] <= 0.5


def test_parse_drops_brackets_of_neutral_version_info_but_keeps_featured_artists():
    # "(album version)" names the same recording: its word "version" must not demand a version
    assert mixed.parse("Luke Bryan All My Friends Say (album version) Country $1.29 3:18").words == (
        "luke", "bryan", "all", "my", "friends", "say", "country")
    assert mixed.parse("Rihanna Stay (Album Version (Explicit)) Unapologetic").words == (
        "rihanna", "stay", "unapologetic")
    assert mixed.parse("Rihanna Stay (feat. Mikky Ekko) Unapologetic").words == (
        "rihanna", "stay", "feat", "mikky", "ekko", "unapologetic")
    assert "live" in mixed.parse("Queen Radio Ga Ga (Live at Wembley) Live Aid").words
    # a track number before a title that starts with a number
    assert mixed.parse("Contempt 025-53rd State The Hunter Becomes the Hunted").words[:3] == ("contempt", "53rd", "state")


def test_a_name_with_two_letters_swapped_is_found_in_the_text():
    text = mixed.parse("Biran Protheroe Pinball One Hit Wonders $0.99 3:04 1974")
    # found, but a typo counts less than a word as written (so a strict threshold can still tell)
    assert mixed.coverage("brian protheroe", text) == (mixed.TYPO_CREDIT + 1) / 2 < 1.0
    assert mixed.coverage("gabriel pierne", mixed.parse("Gabriel Pieren Introduction et Variations")) == \
        (1 + mixed.TYPO_CREDIT) / 2
    assert mixed.ordered_coverage("brian protheroe", text) == (mixed.TYPO_CREDIT + 1) / 2
    assert mixed.coverage("brian protheroe", mixed.parse("Brian Protheroe Pinball")) == 1.0
    # short words must be spelt right, and a different name stays different
    assert mixed.coverage("joe", mixed.parse("Jon Song")) == 0.0
    assert mixed.coverage("brian protheroe", mixed.parse("Brian Eno Pinball")) == 0.5


def test_names_written_without_spaces_are_found_either_way():
    # file names and hashtags drop spaces: "FallOutBoy", "IfYouLetMeLoveYou2"; or an entry does
    assert mixed.coverage("fall out boy", mixed.parse("FallOutBoy I'm Like a Lawyer $1.29 3:35")) == 1.0
    assert mixed.coverage("tonyrice", mixed.parse("Tony Rice - Urge for Going Night Flyer")) == 1.0
    assert mixed.ordered_coverage("if you let me love you 2", mixed.parse("Andy Taylor IfYouLetMeLoveYou2")) == 1.0
    # short joins are not trusted
    assert mixed.coverage("a b", mixed.parse("AB Song")) == 0.0


def test_a_year_in_the_title_is_explained_by_the_text():
    # "53rd State (live 1986)": the year is taken out of the text as a date, but it was there
    from discogs_tools.match.normalize import album_key, artist_key, title_key

    text = mixed.parse("Contempt 53rd State (live 1986) The Hunter Becomes the Hunted $0.99 4:01")
    ref = {"title_key": title_key("53rd State (live 1986)"), "artist_key": artist_key("Contempt"), "anv_key": None,
           "album_key": album_key("The Hunter Becomes the Hunted")}
    assert mixed.similarities(text, ref, 0.5)[0] > 0.75
    other = {**ref, "title_key": title_key("53rd State (live 1987)")}
    assert mixed.similarities(text, other, 0.5)[0] <= 0.5


def test_block_keys_meet_the_index_keys_that_survive_a_typo():
    # the index keys a recording by artist first word x title's first letters and by the artist's
    # first four letters x title's first word (blocking.LEAN_BLOCK_KEYS): a typo in the artist's
    # or the title's first word still leaves one of them in a mixed-up text
    keys = set(mixed.block_keys(mixed.parse("Jack Radics Confession Always Around $1.29 4:11")))
    assert "jack|<con" in keys  # the index's key of "Jack Radics" / "Conefssion"
    keys = set(mixed.block_keys(mixed.parse("Brucqe Maginnis Street Hype Groove City $9.99 2:57")))
    assert "^bruc|street" in keys  # the index's key of "Bruce Maginnis" / "Street Hype"


def test_a_roman_numeral_inside_the_text_is_the_titles_number():
    # "John the III" is keyed "john the 3" (a trailing numeral is a number); in a mixed-up text the
    # numeral is followed by the album, so it is read both ways there
    from discogs_tools.match.normalize import album_key, artist_key, title_key

    text = mixed.parse("Count Basie Big Band John the III Live in Japan '78 $1.29 3:57")
    ref = {"title_key": title_key("John the III"), "artist_key": artist_key("Count Basie Big Band"), "anv_key": None,
           "album_key": album_key("Live in Japan '78")}
    assert mixed.similarities(text, ref, 0.5) == (1.0, 1.0)
    other = {**ref, "title_key": title_key("John the II")}
    assert mixed.similarities(text, other, 0.5)[0] <= 0.5
    # a title that is only a number must be written as one
    bare = {**ref, "title_key": title_key("3")}
    assert mixed.similarities(text, bare, 0.5)[0] < 0.75
