"""The end-to-end demo on bundled data: synthetic audio and playlists for the real Discogs
sample's tracks (:mod:`.synth`), and the demo command that runs ``pipelines/demo.toml``."""
