import pytest

from cosavatar_pipeline.errors import InputError, RegistryError
from cosavatar_pipeline.registry import Registry, infer_region
from cosavatar_pipeline.slugs import slugify, validate_slug


def test_slugs():
    assert slugify("Give her PINK hair!") == "give_her_pink_hair"
    assert slugify("Émilie's clip (1)") == "emilie_s_clip_1"
    assert validate_slug("talking_woman_2") == "talking_woman_2"
    for bad in ("Talking", "with space", "dash-ed", "", "x" * 65, "edit|video"):
        with pytest.raises(InputError, match="not a valid name"):
            validate_slug(bad)


@pytest.mark.parametrize(
    "prompt, region",
    [
        ("give her pink hair", "hair"),
        ("make her lips blue", "lips"),
        ("turn his shirt red", "clothes"),
        ("put a beach in the background", "background"),
        ("give him green eyes", "eyes"),
        ("add freckles to her face", "face"),
        ("turn him into a bronze statue", "person"),
    ],
)
def test_region_inference(prompt, region):
    assert infer_region(prompt) == region


def test_edit_registration_rules(tmp_path):
    registry = Registry(tmp_path)
    spec = registry.register_edit("give her pink hair")
    assert (spec.name, spec.region, spec.region_inferred) == ("give_her_pink_hair", "hair", True)
    assert registry.get_edit(spec.name) == spec
    given = registry.register_edit("pencil sketch", name="sketch", region="all", seed=3)
    assert (given.region, given.region_inferred, given.seed) == ("all", False, 3)

    with pytest.raises(InputError, match="prompt: is empty"):
        registry.register_edit("   ")
    with pytest.raises(InputError, match="501 characters long; at most 500"):
        registry.register_edit("x" * 501)
    with pytest.raises(InputError, match="unknown region"):
        registry.register_edit("make it glow", region="aura")
    with pytest.raises(InputError, match="unknown editor"):
        registry.register_edit("make it glow", editor="dalle")
    with pytest.raises(RegistryError, match="'sketch' is taken"):
        registry.register_edit("another sketch", name="sketch")
    with pytest.raises(InputError, match="not a valid name"):
        registry.register_edit("fine prompt", name="Bad Name")
    assert registry.edit_names() == ["give_her_pink_hair", "sketch"]


def test_an_edit_names_its_instructpix2pix_settings(tmp_path):
    import json

    registry = Registry(tmp_path)
    assert registry.register_edit("give her pink hair").ip2p_settings == "in2n"
    assert (
        registry.get_edit(registry.register_edit("make it blue", ip2p_settings="portraitgen").name).ip2p_settings
        == "portraitgen"
    )
    with pytest.raises(InputError, match="unknown InstructPix2Pix settings; choose one of"):
        registry.register_edit("make it red", ip2p_settings="turbo")
    # a spec written before the setting existed reads as the default
    path = registry.edits_dir / "make_it_blue.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != "ip2p_settings"}
    path.write_text(json.dumps(old))
    assert registry.get_edit("make_it_blue").ip2p_settings == "in2n"


def test_an_edit_runs_one_to_k_of_the_graphs_rounds(tmp_path):
    import json

    registry = Registry(tmp_path)
    assert registry.register_edit("give her pink hair").rounds == 3
    assert registry.get_edit(registry.register_edit("make it blue", rounds=1).name).rounds == 1
    for rounds in (0, 4):
        with pytest.raises(InputError, match="an edit runs 1 to 3 rounds"):
            registry.register_edit("make it red", rounds=rounds)
    # a spec written before the setting existed runs every round
    path = registry.edits_dir / "make_it_blue.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "rounds"}))
    assert registry.get_edit("make_it_blue").rounds == 3


def test_video_registration_rejects_duplicates_and_missing_files(tmp_path):
    registry = Registry(tmp_path / "registry")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"0" * 100)
    entry = registry.register_video(clip)
    assert entry.name == "clip" and len(entry.sha256) == 64
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clip.read_bytes())
    with pytest.raises(RegistryError, match=r"copy.mp4: already registered as video 'clip'"):
        registry.register_video(copy)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"1" * 100)
    with pytest.raises(RegistryError, match="name 'clip' is taken"):
        registry.register_video(other, name="clip")
    with pytest.raises(InputError, match="does_not_exist.mp4: does not exist"):
        registry.register_video(tmp_path / "does_not_exist.mp4")


@pytest.mark.parametrize("key", ["../../x", "a/b", "pink|../../etc", "name\n", "", "Upper"])
def test_partition_keys_become_paths_only_as_slugs(tmp_path, key):
    """Dagster accepts any dynamic partition key (the web UI and GraphQL can add one); none of these may reach the
    filesystem as a folder or registry file name."""
    from resources.storage import partition_folder

    with pytest.raises(InputError, match="partition key .* is not made of slugs"):
        partition_folder(tmp_path / "store", "frames", key)
    with pytest.raises(InputError, match="not a valid name"):
        Registry(tmp_path).get_edit(key.split("|")[-1])
    assert not list(tmp_path.rglob("*"))
    assert (
        partition_folder(tmp_path / "store", "final_render", "pink_hair|woman")
        == tmp_path / "store" / "final_render" / "pink_hair" / "woman"
    )


def test_prompts_with_hidden_characters_and_names_without_letters_are_refused(tmp_path):
    registry = Registry(tmp_path)
    for prompt in ("give her pink hair\u202e", "pink\nhair", "blue\u200bhair"):
        with pytest.raises(InputError, match=r"prompt: contains control or invisible formatting characters \(U\+"):
            registry.register_edit(prompt)
    with pytest.raises(
        InputError, match="prompt: has no letters a-z or digits to make a name from; give one with --name"
    ):
        registry.register_edit("给她粉色的头发")
    assert registry.register_edit("给她粉色的头发", name="pink_hair_zh").prompt == "给她粉色的头发"
    assert registry.register_edit("Café crème hair").name == "cafe_creme_hair"  # accents are transliterated


@pytest.mark.parametrize(
    "content, problem",
    [
        (
            '{"name": "bad", "prompt": 5, "region": "hair", "region_inferred": true}',
            "prompt: Input should be a valid string",
        ),
        (
            '{"name": "bad", "prompt": "pink hair", "region": "hair", "region_inferred": true, "seed": "x"}',
            "seed: Input should be a valid integer",
        ),
        (
            '{"name": "bad", "prompt": "pink hair", "region": "aura", "region_inferred": true}',
            "region: Input should be",
        ),
        (
            '{"name": "bad", "prompt": "pink hair", "region": "hair", "region_inferred": true, "rounds": 4}',
            "rounds: Input should be less than or equal to 3",
        ),
        ('{"name": "bad", "prompt": "pink ha', "Invalid JSON"),
        (
            '{"name": "bad", "prompt": "pink hair", "region": "hair", "region_inferred": true, "colour": "red"}',
            "colour: Unexpected keyword argument",
        ),
    ],
)
def test_a_hand_edited_registry_file_is_named_with_its_problem(tmp_path, content, problem):
    registry = Registry(tmp_path)
    registry.edits_dir.mkdir(parents=True)
    (registry.edits_dir / "bad.json").write_text(content)
    with pytest.raises(InputError, match=r"bad\.json: is not a valid edit spec: ") as error:
        registry.get_edit("bad")
    assert problem in str(error.value)
    registry.videos_dir.mkdir(parents=True)
    (registry.videos_dir / "clip.json").write_text('{"name": "clip", "path": "/x.mp4", "sha256": 7}')
    with pytest.raises(
        InputError, match=r"clip\.json: is not a valid video registration: sha256: Input should be a valid string"
    ):
        registry.get_video("clip")
