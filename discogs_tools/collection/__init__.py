"""Stage ``ingest collection``: the user's audio (a folder of files or a manifest) as collection/tracks."""
