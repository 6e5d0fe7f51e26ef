"""Tunes from any melody id in the breeding service: the checks, the job, shown once by the front end that asked."""

from __future__ import annotations

import pytest

from domain import artifacts
from domain.errors import BreedError
from domain.limits import ServerLimits
from service.breeding import BreedingService
from service.melodies import OTHER_SERVER
from storage.memory import MemoryStore
from tests.support.service import GUILD, NOW, finished_breed, in_memory, jobs, voting_breed


@pytest.fixture
async def store() -> MemoryStore:
    """These tests are about the service, not Redis: the in-memory store."""
    return await in_memory()


@pytest.fixture
def service(store: MemoryStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)


async def test_a_tune_of_a_gallery_winner_is_asked_for_with_its_breeds_options(service, store) -> None:
    await finished_breed(service)
    assert (await service.gallery.page(GUILD)).winners[0].melody_id == "b1-g1-2"
    tune = await service.tunes.request("b1-g1-2", GUILD, 3, 2, front="discord")
    assert await store.tunes.get(tune.tune_id) == tune
    assert (tune.melody, tune.breed_id, tune.bars, tune.backing, tune.channel_id, tune.front) == (
        "b1-g1-2", "b1", 8, (await service.get("b1")).params.backing, 3, "discord")
    job = (await jobs(store))[-1]
    assert (job.kind, job.tune_id, job.source, job.bars, job.backing) == (
        "tune", tune.tune_id, "b1-g1-2", 8, tune.backing)


async def test_a_tune_of_any_candidate_takes_the_options_given(service, store) -> None:
    await voting_breed(service)
    tune = await service.tunes.request("b1-g1-4", GUILD, 3, 2, bars=16, backing=" Band ", front="web")
    job = (await jobs(store))[-1]
    assert (job.kind, job.source, job.bars, job.backing, tune.front) == ("tune", "b1-g1-4", 16, "band", "web")


@pytest.mark.parametrize("melody, guild, options, refusal", [
    ("zz-g1-1", GUILD, {}, "There is no melody `zz-g1-1`: breed `zz` does not exist, or ended "
                           "over 90 days ago and is no longer kept."),
    ("b1-g1", GUILD, {}, "`b1-g1` is not a melody id: ids look like `ab12cd34-g3-5`."),
    ("b1-g1-1", 1, {}, OTHER_SERVER),
    ("b1-g1-1", GUILD, {"bars": 12}, "Cannot make a tune: bars must be 8 or 16, not 12."),
    ("b1-g1-1", GUILD, {"backing": "orchestra"},
     "Cannot make a tune: backing must be one of none, chords, band, not `orchestra`."),
])
async def test_a_bad_tune_request_gets_one_line_and_changes_nothing(
    service, store, melody: str, guild: int, options: dict, refusal: str,
) -> None:
    await voting_breed(service)
    before, kept = await jobs(store), store.snapshot()
    with pytest.raises(BreedError) as refused:
        await service.tunes.request(melody, guild, 3, 2, front="discord", **options)
    assert str(refused.value) == refusal
    assert await jobs(store) == before
    assert store.snapshot() == kept


async def test_a_tune_is_shown_once_with_its_files_and_names_those_missing(service, store) -> None:
    await voting_breed(service)
    tune = await service.tunes.request("b1-g1-1", GUILD, 3, 2, front="discord")
    assert await service.tunes.lookup(tune.tune_id) == tune
    await store.tunes.add_files(tune.tune_id, {artifacts.TUNE_MID: b"M", artifacts.TUNE_AUDIO: b"O"})
    shown = []

    async def post(request, files) -> None:
        shown.append((request.channel_id, [name for name, _data in files.found], files.missing))

    assert await service.tunes.ready(tune.tune_id, post)
    assert not await service.tunes.ready(tune.tune_id, post)
    assert not await service.tunes.ready("nothing1", post)
    assert shown == [(3, [artifacts.TUNE_MID, artifacts.TUNE_AUDIO], (artifacts.TUNE_PNG,))]


async def test_a_tune_whose_post_failed_is_shown_when_its_event_comes_again(service, store) -> None:
    await voting_breed(service)
    tune = await service.tunes.request("b1-g1-1", GUILD, 3, 2, front="discord")

    async def broken(request, files) -> None:
        raise RuntimeError("Discord is down")

    with pytest.raises(RuntimeError):
        await service.tunes.ready(tune.tune_id, broken)
    shown = []

    async def post(request, files) -> None:
        shown.append(request.tune_id)

    assert await service.tunes.ready(tune.tune_id, post)
    assert shown == [tune.tune_id]


async def test_tunes_are_spaced_by_the_tune_cooldown(store) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(morph_cooldown_s=5, tune_cooldown_s=60))
    await voting_breed(service)
    await service.tunes.request("b1-g1-1", GUILD, 3, 2, front="discord")
    with pytest.raises(BreedError, match="^Slow down: you can ask for another tune in 60 s.$"):
        await service.tunes.request("b1-g1-2", GUILD, 3, 2, front="discord")
