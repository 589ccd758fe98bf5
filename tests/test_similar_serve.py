"""serve: the page in a real headless browser (Debian's chromium through chromedriver), the audio
refusals, and the loopback-only default. Servers here listen on 127.0.0.1 on a free port and are
shut down by the fixture."""

from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from discogs_tools.errors import ConfigError
from discogs_tools.io import read_table
from discogs_tools.similar.roots import OutsideRoots, collection_roots, servable
from discogs_tools.similar.server import SimilarService, start
from similar_workspace import RUN, build as build_workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def sim_ws(tmp_path_factory):
    return build_workspace(tmp_path_factory.getbasetemp() / "similar-ws")


@pytest.fixture
def served(sim_ws):
    service = SimilarService(sim_ws, RUN)
    server = start(service, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service, server, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        service.close()
        thread.join(5)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


def test_binds_loopback_and_refuses_remote_host_unless_asked(served, sim_ws):
    service, server, _ = served
    assert server.server_address[0] == "127.0.0.1"
    with pytest.raises(ConfigError, match="--allow-remote"):
        start(service, "0.0.0.0", 0)


def test_audio_only_from_under_the_collection_roots(served, tmp_path):
    service, _, base = served
    track = read_table(service.ws.table("collection/tracks"), columns=["track_id", "path"]).to_pylist()[0]
    status, kind, body = get(f"{base}/audio/{track['track_id']}")
    assert status == 200 and kind == "audio/flac" and body == Path(track["path"]).read_bytes()
    # the same track when the collection's root is another folder: refused, nothing sent
    service.roots = [tmp_path.resolve()]
    status, _, body = get(f"{base}/audio/{track['track_id']}")
    assert status == 403 and "outside the collection's folders" in json.loads(body)["error"]
    # a link inside a root that points outside it, and a path climbing out of a root
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "evil.flac").symlink_to(Path(track["path"]))
    with pytest.raises(OutsideRoots, match="outside"):
        servable(tmp_path / "music" / "evil.flac", [(tmp_path / "music").resolve()])
    with pytest.raises(OutsideRoots, match="outside"):
        servable(tmp_path / "music" / ".." / ".." / Path(track["path"]).name, [(tmp_path / "music").resolve()])
    # ids that are not collection tracks are refused; a traversal attempt does not even route
    status, _, _ = get(f"{base}/audio/no-such-track")
    assert status == 403
    status, _, body = get(f"{base}/audio/..%2F..%2F..%2Fetc%2Fpasswd")
    assert status in (403, 404) and b"root:" not in body
    roots = collection_roots(service.ws)
    assert roots == [Path(track["path"]).resolve().parent]


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
                    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); "
                           ".ci/run installs them")
def test_page_in_headless_chromium(served, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    service, _, base = served
    track = next(t for t in read_table(service.ws.table("collection/tracks"), columns=["track_id"]).column(0).to_pylist())
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(base + "/")
        wait = WebDriverWait(driver, 60)
        box = driver.find_element(By.ID, "q")
        box.send_keys(track)
        driver.find_element(By.ID, "go").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results tr.neighbour")) == 10)
        rows = driver.find_elements(By.CSS_SELECTOR, "#results tr.neighbour")
        expected = service.similar(track, 10)["neighbours"]
        assert [r.get_attribute("data-track-id") for r in rows] == [n["track_id"] for n in expected]
        assert expected[0]["artist"] in rows[0].text
        # the first neighbour's audio element loads its file: metadata read, a duration, no error
        audio = rows[0].find_element(By.TAG_NAME, "audio")
        assert audio.get_attribute("src").endswith(f"/audio/{expected[0]['track_id']}")
        wait.until(lambda d: d.execute_script("return arguments[0].readyState >= 1 || arguments[0].error !== null",
                                              audio))
        state = driver.execute_script("const a = arguments[0]; return [a.error === null, a.duration, a.readyState, "
                                      "a.canPlayType('audio/flac')]", audio)
        assert state[0] is True and state[1] > 0 and state[3] in ("probably", "maybe"), state
        # the map is drawn
        wait.until(lambda d: d.find_element(By.ID, "mapinfo").text != "")
        assert "tracks" in driver.find_element(By.ID, "mapinfo").text
        shot = tmp_path_factory.getbasetemp() / "artifacts" / "similar-serve.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot of the page: {shot}")
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
