"""The registry of videos and edits: one JSON file per entry under ``<home>/registry/``.

A registry entry is what a partition key means: the ``video`` key names a registered file, the ``edit`` key
names an edit spec (prompt, region, editor settings, seed). Dagster holds the partition keys; this holds their specs.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import asdict, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from cosavatar_pipeline.atomic import write_json_exclusive
from cosavatar_pipeline.editing.config import DEFAULT_IP2P_SETTINGS, EDIT_ROUNDS, IP2P_SETTING_PRESETS
from cosavatar_pipeline.errors import InputError, RegistryError, require_file
from cosavatar_pipeline.presets import DEFAULT_PRESET, default_preset, get_preset
from cosavatar_pipeline.slugs import name_from, validate_slug

MAX_PROMPT_LENGTH = 500

# Edit regions and the words that imply them, checked in this order; no match means "person".
EDIT_REGIONS = ("hair", "face", "lips", "eyes", "clothes", "background", "person", "all")
REGION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "hair": ("hair", "hairstyle", "haircut", "bangs", "fringe", "ponytail", "braid", "curls", "bald"),
    "lips": ("lips", "lipstick", "lip"),
    "eyes": ("eyes", "eye", "iris", "irises", "pupils"),
    "clothes": (
        "shirt",
        "blazer",
        "jacket",
        "suit",
        "clothes",
        "clothing",
        "dress",
        "hoodie",
        "sweater",
        "coat",
        "top",
        "t-shirt",
        "outfit",
        "tie",
        "collar",
    ),
    "background": ("background", "backdrop", "behind", "scene", "wall", "room"),
    "face": (
        "face",
        "skin",
        "makeup",
        "beard",
        "moustache",
        "mustache",
        "freckles",
        "tan",
        "wrinkles",
        "older",
        "younger",
        "smile",
    ),
}
EDITORS = ("auto", "ip2p", "procedural")
# Registry files are read strictly: a hand-edited `"seed": "x"` or an unknown field is an error naming the file.
STRICT = ConfigDict(strict=True, extra="forbid")


def sha256_of_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def infer_region(prompt: str) -> str:
    words = set(prompt.lower().replace(",", " ").replace(".", " ").split())
    for region, keywords in REGION_KEYWORDS.items():
        if words & set(keywords):
            return region
    return "person"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, config=STRICT)
class VideoRegistration:
    name: str
    path: str  # absolute path of the file as registered; `source_video` copies it into the store
    sha256: str
    preset: str = DEFAULT_PRESET
    registered_at: str = field(default_factory=_now)


@dataclass(frozen=True, config=STRICT)
class EditSpec:
    name: str
    prompt: str
    region: Literal[EDIT_REGIONS]
    region_inferred: bool
    editor: Literal[EDITORS] = "auto"
    seed: int = 0
    registered_at: str = field(default_factory=_now)
    ip2p_settings: str = DEFAULT_IP2P_SETTINGS  # a key of IP2P_SETTING_PRESETS (specs written before it: the default)
    # how many of the graph's K rounds this edit runs; the rest pass the last avatar on (specs written before: K)
    rounds: Annotated[int, Field(ge=1, le=EDIT_ROUNDS)] = EDIT_ROUNDS


def validate_prompt(prompt: str) -> str:
    text = prompt.strip()
    if not text:
        raise InputError("prompt", "is empty: say what to change, e.g. 'give her pink hair'")
    if len(text) > MAX_PROMPT_LENGTH:
        raise InputError("prompt", f"is {len(text)} characters long; at most {MAX_PROMPT_LENGTH} are allowed")
    # control characters (new lines included) and invisible format characters such as bidi overrides would reach
    # logs, MLflow and the web UI as they are, and can make a prompt display as something else
    hidden = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf")})
    if hidden:
        raise InputError(
            "prompt",
            f"contains control or invisible formatting characters ({', '.join(hidden)}); write it on one line "
            "without them",
        )
    return text


def read_entry(path: Path, kind: type, what: str):
    """A registry file as ``kind``, checked field by field; an InputError naming the file and its first problem."""
    try:
        return TypeAdapter(kind).validate_json(path.read_bytes())
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InputError(path, f"is not a valid {what}: {where + ': ' if where else ''}{error['msg']}") from None


def _entry_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.json"))


def _read_named_entry(folder: Path, name: str, kind: type, noun: str, what: str):
    """``folder/<name>.json`` as ``kind``: a RegistryError listing the registered names when it does not exist, an
    InputError when the file names another entry."""
    path = folder / f"{validate_slug(name)}.json"
    if not path.exists():
        raise RegistryError(f"{noun} {name!r} is not registered (registered: {_entry_names(folder) or 'none'})")
    entry = read_entry(path, kind, what)
    if entry.name != name:
        raise InputError(path, f"names the {noun} {entry.name!r}; the file must be called {entry.name}.json")
    return entry


class Registry:
    """Reads and writes registry entries under ``<home>/registry/{videos,edits}/<name>.json``."""

    def __init__(self, registry_dir: Path):
        self.videos_dir = Path(registry_dir) / "videos"
        self.edits_dir = Path(registry_dir) / "edits"

    # videos ---------------------------------------------------------------------------------------------------
    def video_names(self) -> list[str]:
        return _entry_names(self.videos_dir)

    def get_video(self, name: str) -> VideoRegistration:
        return _read_named_entry(self.videos_dir, name, VideoRegistration, "video", "video registration")

    def find_video_by_sha256(self, sha256: str) -> VideoRegistration | None:
        for name in self.video_names():
            entry = self.get_video(name)
            if entry.sha256 == sha256:
                return entry
        return None

    def register_video(
        self, path: Path, name: str | None = None, preset: str | None = None, sha256: str | None = None
    ) -> VideoRegistration:
        """Record a video file under a slug (preset: ``default_preset()`` when None). Checks only what is cheap;
        decoding is checked by the probe. ``sha256``: the file's, when the caller has hashed it already."""
        path = Path(path).expanduser()
        require_file(path)
        preset = get_preset(preset).name if preset else default_preset()
        name = validate_slug(name) if name else name_from(path.stem, f"file name {path.name!r}")
        digest = sha256 or sha256_of_file(path)
        same_file = self.find_video_by_sha256(digest)
        if same_file is not None:
            raise RegistryError(f"{path}: already registered as video {same_file.name!r} (same sha256 {digest[:12]}…)")
        if (self.videos_dir / f"{name}.json").exists():
            raise RegistryError(f"{path}: the name {name!r} is taken by another video; pass a different --name")
        entry = VideoRegistration(name=name, path=str(path.resolve()), sha256=digest, preset=preset)
        try:
            write_json_exclusive(self.videos_dir / f"{name}.json", asdict(entry))
        except FileExistsError:  # another add-video took the name since the check above
            raise RegistryError(
                f"{path}: the name {name!r} is taken by another video; pass a different --name"
            ) from None
        return entry

    def unregister_video(self, name: str) -> None:
        (self.videos_dir / f"{name}.json").unlink(missing_ok=True)

    # edits ----------------------------------------------------------------------------------------------------
    def edit_names(self) -> list[str]:
        return _entry_names(self.edits_dir)

    def get_edit(self, name: str) -> EditSpec:
        """The spec, checked as ``register_edit`` checks it (a hand-written file gets the same scrutiny)."""
        spec = _read_named_entry(self.edits_dir, name, EditSpec, "edit", "edit spec")
        path = self.edits_dir / f"{name}.json"
        validate_prompt(spec.prompt)
        if spec.region not in EDIT_REGIONS or spec.editor not in EDITORS:
            raise InputError(path, f"region must be one of {list(EDIT_REGIONS)} and editor one of {list(EDITORS)}")
        if spec.ip2p_settings not in IP2P_SETTING_PRESETS:
            raise InputError(path, f"ip2p_settings must be one of {sorted(IP2P_SETTING_PRESETS)}")
        return spec

    def register_edit(
        self,
        prompt: str,
        name: str | None = None,
        region: str | None = None,
        editor: str = "auto",
        seed: int = 0,
        ip2p_settings: str = DEFAULT_IP2P_SETTINGS,
        rounds: int = EDIT_ROUNDS,
    ) -> EditSpec:
        text = validate_prompt(prompt)
        if not 1 <= rounds <= EDIT_ROUNDS:
            raise InputError(f"rounds {rounds}", f"an edit runs 1 to {EDIT_ROUNDS} rounds (the asset graph's)")
        if ip2p_settings not in IP2P_SETTING_PRESETS:
            raise InputError(
                repr(ip2p_settings), f"unknown InstructPix2Pix settings; choose one of {sorted(IP2P_SETTING_PRESETS)}"
            )
        if region is not None and region not in EDIT_REGIONS:
            raise InputError(repr(region), f"unknown region; choose one of {list(EDIT_REGIONS)}")
        if editor not in EDITORS:
            raise InputError(repr(editor), f"unknown editor; choose one of {list(EDITORS)}")
        name = validate_slug(name) if name else name_from(text, "prompt")
        if (self.edits_dir / f"{name}.json").exists():
            existing = self.get_edit(name)
            raise RegistryError(f"edit name {name!r} is taken (prompt {existing.prompt!r}); pass a different --name")
        spec = EditSpec(
            name=name,
            prompt=text,
            region=region or infer_region(text),
            region_inferred=region is None,
            editor=editor,
            seed=seed,
            ip2p_settings=ip2p_settings,
            rounds=rounds,
        )
        try:
            write_json_exclusive(self.edits_dir / f"{name}.json", asdict(spec))
        except FileExistsError:  # another add-edit took the name since the check above
            raise RegistryError(f"edit name {name!r} is taken; pass a different --name") from None
        return spec
