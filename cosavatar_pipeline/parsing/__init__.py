"""Semantic parsing of portrait frames (label maps, named region masks) and the static background plate."""
