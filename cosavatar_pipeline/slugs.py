"""Partition keys are slugs: lower-case letters, digits and underscores."""

from __future__ import annotations

import re
import unicodedata

from cosavatar_pipeline.errors import InputError

SLUG_PATTERN = re.compile(r"^[a-z0-9_]+$")
MAX_SLUG_LENGTH = 64


def slugify(text: str, max_length: int = 40) -> str:
    """Make a slug from free text ("Give her PINK hair!" -> "give_her_pink_hair")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    slug = slug[:max_length].rstrip("_")
    return slug or "unnamed"


def validate_slug(name: str) -> str:
    if not SLUG_PATTERN.match(name) or len(name) > MAX_SLUG_LENGTH:
        raise InputError(
            repr(name),
            f"not a valid name: use only a-z, 0-9 and '_' (at most {MAX_SLUG_LENGTH} characters), "
            f"e.g. {slugify(name)!r}",
        )
    return name
