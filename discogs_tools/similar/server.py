"""``discogs-tools serve``: a local web page to search a track, hear its neighbours and browse a map.

A bottle application (one file, no dependencies) on the standard library's WSGI server with one
thread per request, bound to 127.0.0.1 unless another ``host`` is asked for:

    GET /                        the page (page.html)
    GET /api/tracks?q=TEXT       collection tracks whose artist or title contains TEXT (at most 20)
    GET /api/similar?q=QUERY&k=10&style=&years=&label=&exclude_same_artist=1
                                 the query (track id, ``artist - title``) and its neighbours, as
                                 ``similar --format json`` prints them, each with an ``audio`` URL
    GET /api/map?seed=0          the 2-D map (:mod:`.map`)
    GET /audio/<track_id>        the track's own audio file, only from under the collection's roots
                                 (:mod:`.roots`); anything else is 403 with the reason

Searches share one index and one read-only warehouse connection, used under a lock.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import socket
import threading
from importlib import resources
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..errors import ConfigError, DiscogsToolsError
from ..workspace import Workspace
from .filters import Filters, parse_years
from .index import open_index
from .map import build_map
from .metadata import Metadata
from .resolve import resolve
from .roots import OutsideRoots, collection_roots, servable
from .search import neighbours

LOOPBACK = "127.0.0.1"
MAX_K = 200
mimetypes.add_type("audio/flac", ".flac")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


class SimilarService:
    """What the page asks for, over one run's index (thread-safe through a lock)."""

    def __init__(self, ws: Workspace, run: str, *, embeddings: str | None = None,
                 audio_roots: Iterable[str] = (), echo: Callable[[str], None] | None = None) -> None:
        from functools import partial

        from .audio import embed_audio_file
        from .search import features_of

        self.ws, self.run = ws, run
        self.index = open_index(ws, run, embeddings=embeddings, echo=echo)
        self.metadata = Metadata(ws, echo=echo)
        self.roots = collection_roots(ws, audio_roots)
        self.embed_file = partial(embed_audio_file, ws, run, features=features_of(ws, run, self.index.folder.name))
        self.lock = threading.Lock()

    def close(self) -> None:
        self.metadata.close()

    def tracks(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        pattern = f"%{text.strip().lower()}%"
        with self.lock:
            rows = self.metadata.con.execute(
                "select track_id, artist, title from collection_tracks "
                "where lower(artist) like $p or lower(title) like $p or track_id = $t order by artist, title limit $n",
                {"p": pattern, "t": text.strip(), "n": limit}).fetchall()
        return [{"track_id": t, "artist": a, "title": ti} for t, a, ti in rows
                if self.index.key_of(t) is not None]

    def similar(self, text: str, k: int = 10, filters: Filters = Filters()) -> dict[str, Any]:
        with self.lock:
            # Audio queries come from files the user names on the command line, never from the page.
            query = resolve(text, self.index, self.metadata, embed_file=None)
            found = neighbours(self.index, self.metadata, query, max(1, min(k, MAX_K)), filters)
        return {"query": {"text": query.text, "kind": query.kind, "track_id": query.track_id,
                          "info": query.info.to_dict() if query.info else None, "notes": query.notes,
                          "audio": self.audio_url(query.info.track_id, query.info.path) if query.info else None},
                "neighbours": [{**n.to_dict(), "audio": self.audio_url(n.info.track_id, n.info.path)} for n in found]}

    def audio_url(self, track_id: str, path: str | None) -> str | None:
        try:
            servable(path, self.roots)
        except OutsideRoots:
            return None
        return f"/audio/{track_id}"

    def audio_file(self, track_id: str) -> Path:
        """The servable file of a track; :class:`OutsideRoots` for anything else."""
        with self.lock:
            info = self.metadata.lookup([track_id]).get(track_id)
        if info is None:
            raise OutsideRoots(f"track {track_id} is not in the collection")
        return servable(info.path, self.roots)

    def map(self, seed: int = 0) -> dict[str, Any]:
        with self.lock:
            return build_map(self.index, self.metadata, seed=seed)


def make_app(service: SimilarService):
    """The bottle application over ``service``."""
    import bottle

    app = bottle.Bottle()
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")

    def fail(status: int, message: str):
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        return {"error": message}

    @app.get("/")
    def index_page():
        bottle.response.content_type = "text/html; charset=utf-8"
        return page.replace("__RUN__", service.run)

    @app.get("/api/tracks")
    def tracks():
        return {"tracks": service.tracks(bottle.request.query.getunicode("q", default="") or "")}

    @app.get("/api/similar")
    def similar():
        q = bottle.request.query
        text = q.getunicode("q", default="") or ""
        try:
            lo, hi = parse_years(q.getunicode("years", default="") or None)
            filters = Filters(styles=tuple(s for s in q.getall("style") if s), year_min=lo, year_max=hi,
                              labels=tuple(s for s in q.getall("label") if s),
                              exclude_same_artist=q.get("exclude_same_artist", "") in ("1", "true", "on"))
            k = int(q.get("k", "10") or 10)
            return service.similar(text, k, filters)
        except (DiscogsToolsError, ValueError) as exc:
            return fail(400, str(exc))

    @app.get("/api/map")
    def map_points():
        return service.map(int(bottle.request.query.get("seed", "0") or 0))

    @app.get("/audio/<track_id>")
    def audio(track_id: str):
        try:
            path = service.audio_file(track_id)
        except OutsideRoots as exc:
            return fail(403, f"refused: {exc}")
        return bottle.static_file(path.name, root=str(path.parent), mimetype=mimetypes.guess_type(path.name)[0]
                                  or "application/octet-stream")

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # requests are not logged to the terminal
        pass


def start(service: SimilarService, host: str = LOOPBACK, port: int = 8765, *, allow_remote: bool = False):
    """A started server (call ``serve_forever`` or run it in a thread; ``shutdown`` stops it).

    A host that is not a loopback address is refused unless ``allow_remote``: the page plays the
    user's own audio files to whoever can reach it."""
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"--host {host} is reachable from other machines; the page serves your audio files "
                          "to anyone who can reach it: add --allow-remote to do so anyway")
    try:
        return make_server(host, port, make_app(service), server_class=_ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
