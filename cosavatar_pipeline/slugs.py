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


def name_from(text: str, subject: str) -> str:
    """The slug of ``text``, or an InputError when it has no a-z or 0-9 to build one from (an all-Chinese prompt
    would otherwise be named 'unnamed' like every other such prompt)."""
    slug = slugify(text)
    if not re.search(
        r"[a-z0-9]", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    ):
        raise InputError(subject, "has no letters a-z or digits to make a name from; give one with --name")
    return slug


def validate_slug(name: str) -> str:
    if not isinstance(name, str) or not SLUG_PATTERN.fullmatch(name) or len(name) > MAX_SLUG_LENGTH:
        raise InputError(
            repr(name),
            f"not a valid name: use only a-z, 0-9 and '_' (at most {MAX_SLUG_LENGTH} characters), "
            f"e.g. {slugify(str(name))!r}",
        )
    return name


# An (edit, video) partition key as Dagster spells a multi-partition key: the dimensions' values in the order of
# their names, joined by "|" (tests/test_definitions.py checks it against ``dg.MultiPartitionKey``).
KEY_SEPARATOR = "|"


def edit_video_key(edit: str, video: str) -> str:
    return f"{edit}{KEY_SEPARATOR}{video}"


def key_parts(partition_key: str) -> list[str]:
    """``video`` -> [video]; ``edit|video`` -> [edit, video]."""
    return str(partition_key).split(KEY_SEPARATOR)
