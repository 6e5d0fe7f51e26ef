"""Melody ids, branches, family trees, the gallery and compositions in the breeding service."""

from __future__ import annotations

import pytest

from domain import artifacts
from domain.errors import BreedError
from domain.ids import MelodyRef
from domain.limits import ServerLimits
from domain.model import Breed, BreedParams
from domain.rules import Actor, tree_marker
from service.breeding import BreedingService, Place
from service.gallery import REMOVE_REFUSAL
from service.melodies import OTHER_SERVER
from storage.memory import MemoryStore
from tests.support.service import GUILD, NOW, OWNER, finished_breed, in_memory, jobs, voting_breed


@pytest.fixture
async def store() -> MemoryStore:
    """These tests are about the service, not Redis: the in-memory store."""
    return await in_memory()


@pytest.fixture
def service(store: MemoryStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)



@pytest.mark.parametrize("text, refusal", [
    ("b1-g1", "`b1-g1` is not a melody id: ids look like `ab12cd34-g3-5`."),
    ("zz-g1-1", "There is no melody `zz-g1-1`: breed `zz` does not exist, or ended over 90 days ago and is no "
                "longer kept."),
    ("b1-g2-1", "There is no melody `b1-g2-1`: breed `b1` has generations 1 to 1."),
    ("b1-g1-5", "There is no melody `b1-g1-5`: breed `b1` has candidates 1 to 4."),
])
async def test_a_melody_id_names_a_candidate_that_exists(service, text: str, refusal: str) -> None:
    await voting_breed(service)
    assert await service.melodies.melody("b1-g1-4", GUILD) == (MelodyRef("b1", 0, 3), await service.get("b1"))
    with pytest.raises(BreedError) as refused:
        await service.melodies.melody(text, GUILD)
    assert str(refused.value) == refusal


async def test_another_servers_melody_is_refused_for_every_use(service) -> None:
    await finished_breed(service)
    attempts = [
        service.melodies.melody("b1-g1-1", 1),
        service.start(owner_id=2, params=BreedParams(population=4), place=Place(guild_id=1),
                      source=MelodyRef("b1", 0, 1), front="discord"),
        service.melodies.request_tree("b1-g1-1", 1),
        service.compositions.request("b1-g1-1 b1-g1-2", 1, 3, 2),
        service.gallery.play("b1-g1-2", 1),
        service.gallery.remove("b1-g1-2", 1, Actor(1, manage_messages=True)),
    ]
    for attempt in attempts:
        with pytest.raises(BreedError, match=f"^{OTHER_SERVER}$"):
            await attempt
    assert [job.kind for job in await jobs(service.store)] == ["start", "finish"]


async def test_a_branch_starts_around_the_melody_and_records_where_it_came_from(service, store) -> None:
    source = await finished_breed(service)
    branch = await service.start(owner_id=2, params=service.params(like=source), place=Place(guild_id=GUILD),
                                 source=MelodyRef("b1", 0, 1), front="discord")
    assert branch.source == "b1-g1-2"
    assert (await store.breeds.get(branch.breed_id)).source == "b1-g1-2"
    start = (await jobs(store))[-1]
    assert (start.kind, start.breed_id, start.source, start.seed_midi_key) == ("start", branch.breed_id,
                                                                            "b1-g1-2", None)


async def test_a_branch_sounds_like_its_source_unless_told_otherwise(service) -> None:
    source = await service.start(breed_id="b1", owner_id=1, params=BreedParams(tempo=90, instrument=40),
                                 front="discord")
    assert (service.params(like=source).tempo, service.params(like=source).instrument) == (90, 40)
    assert service.params(like=source, tempo=150).tempo == 150


async def test_a_breed_starts_from_a_midi_file_or_a_melody_not_both(service, store) -> None:
    await voting_breed(service)
    with pytest.raises(BreedError, match="^Start from a MIDI file or from a melody id, not from both.$"):
        await service.start(owner_id=2, params=BreedParams(), place=Place(guild_id=GUILD), seed=b"MThd",
                            source=MelodyRef("b1", 0, 0), front="discord")
    assert len(await store.breeds.open_breeds()) == 1


async def test_a_tree_is_asked_for_once_per_candidate_and_posted_once(service, store) -> None:
    await voting_breed(service)
    ref, _breed = await service.melodies.request_tree("b1-g1-3", GUILD)
    assert (await jobs(store))[-1].kind == "tree" and (await jobs(store))[-1].candidate == 2
    posted = []

    async def post(breed: Breed) -> None:
        posted.append(breed.breed_id)

    assert await service.melodies.tree_ready("b1", 0, 2, post)
    assert not await service.melodies.tree_ready("b1", 0, 2, post)
    assert posted == ["b1"] and await store.posts.is_posted("b1", 0, tree_marker(2))
    with pytest.raises(BreedError, match=r"^The family tree of `b1-g1-3` is in the breed's thread already.$"):
        await service.melodies.request_tree(ref, GUILD)


async def test_a_candidate_is_picked_by_number_in_its_thread_or_by_id(service) -> None:
    await voting_breed(service)
    assert await service.pick("3", 7, GUILD) == MelodyRef("b1", 0, 2)
    assert await service.pick("b1-g1-4", None, GUILD) == MelodyRef("b1", 0, 3)
    with pytest.raises(BreedError, match="^Name a candidate: its number in this generation, or its melody id.$"):
        await service.pick(None, 7, GUILD)


async def test_a_finished_winner_is_kept_with_its_files_and_everyone_who_took_part(service, store) -> None:
    await finished_breed(service)
    page = await service.gallery.page(GUILD)
    [winner] = page.winners
    assert (page.page, page.pages, page.total) == (1, 1, 1)
    assert (winner.melody_id, winner.owner_id, winner.people, winner.finished_at) == ("b1-g1-2", 1, (1, 20, 21), NOW)
    kept = await service.gallery.play("b1-g1-2", GUILD)
    assert [name for name, _data in kept.files] == list(artifacts.WINNER_FILES)


async def test_gallery_pages_start_at_1_and_end_at_the_last(service) -> None:
    assert (await service.gallery.page(GUILD, 1)).total == 0
    with pytest.raises(BreedError, match="^Gallery pages start at 1.$"):
        await service.gallery.page(GUILD, 0)
    with pytest.raises(BreedError, match="^The gallery has 1 page; there is no page 2.$"):
        await service.gallery.page(GUILD, 2)


async def test_only_the_starter_or_a_message_manager_may_remove_a_winner(service, store) -> None:
    await finished_breed(service)
    with pytest.raises(BreedError, match=f"^{REMOVE_REFUSAL}$"):
        await service.gallery.remove("b1-g1-2", GUILD, Actor(20))
    await service.gallery.remove("b1-g1-2", GUILD, OWNER)
    assert (await service.gallery.page(GUILD)).total == 0
    with pytest.raises(BreedError, match=r"^`b1-g1-2` is not in this server's gallery"):
        await service.gallery.play("b1-g1-2", GUILD)


@pytest.mark.parametrize("count", [1, 9])
async def test_a_composition_joins_2_to_8_melodies(service, count: int) -> None:
    await voting_breed(service)
    with pytest.raises(BreedError, match=f"^A composition joins 2 to 8 melody ids, not {count}.$"):
        await service.compositions.request(" ".join(["b1-g1-1"] * count), GUILD, 3, 2)


async def test_a_composition_is_asked_for_then_posted_once_where_it_was_asked(service, store) -> None:
    await voting_breed(service)
    piece = await service.compositions.request("b1-g1-1 b1-g1-1 b1-g1-2 b1-g1-1", GUILD, 3, 2, smooth=True)
    job = (await jobs(store))[-1]
    assert (job.kind, job.composition_id, job.melodies, job.smooth) == (
        "compose", piece.composition_id, ("b1-g1-1", "b1-g1-1", "b1-g1-2", "b1-g1-1"), True)
    assert not hasattr((await jobs(store))[0], "composition_id")  # a breed's job names no composition
    await store.compositions.add_files(piece.composition_id, {artifacts.COMPOSITION_MID: b"M"})
    posted = []

    async def post(composition, files) -> None:
        posted.append((composition.channel_id, [name for name, _data in files]))

    assert await service.compositions.composed(piece.composition_id, post)
    assert not await service.compositions.composed(piece.composition_id, post)
    assert posted == [(3, [artifacts.COMPOSITION_MID])]


async def test_trees_and_compositions_are_spaced_by_their_own_cooldowns(store) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(tree_cooldown_s=60, compose_cooldown_s=60))
    await voting_breed(service)
    await service.compositions.request("b1-g1-1 b1-g1-2", GUILD, 3, 2)
    with pytest.raises(BreedError, match="^Slow down: you can ask for another piece in 60 s.$"):
        await service.compositions.request("b1-g1-1 b1-g1-2", GUILD, 3, 2)
    await service.melodies.request_tree("b1-g1-1", GUILD, 2)
    with pytest.raises(BreedError, match="^Slow down: you can ask for another family tree in 60 s.$"):
        await service.melodies.request_tree("b1-g1-2", GUILD, 2)
