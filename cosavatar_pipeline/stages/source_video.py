"""`source_video`: the registered file, copied into the store."""

SOURCE_FILE = "source.mp4"
