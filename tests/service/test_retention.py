"""Retention: a breed that ended expires after BREED_RETENTION_DAYS; its gallery winner stays, stored once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from redis.asyncio import Redis

from domain import artifacts
from domain.errors import BreedError
from domain.ids import MelodyRef
from domain.model import Breed, BreedParams
from domain.rules import Actor, morph_marker
from domain.tune import DEFAULT_BACKING, DEFAULT_TUNE_BARS
from service.breeding import BreedingService
from storage import BreedStore, keys
from storage.breeds import breed_key
from storage.codec import Nudge
from storage.gallery import gallery_key, winner_key
from storage.streams import JOBS
from tests.support.service import GUILD, NOW, VOTE_MESSAGE, finished_breed, voting_breed, write_generation
from tests.support.waiting import let_pass

RETENTION_S = 1.0


@pytest.fixture
def service(redis_client: Redis, store: BreedStore) -> BreedingService:
    return BreedingService(BreedStore(redis_client, artifact_ttl_s=600, retention_s=RETENTION_S), lambda: NOW)


async def keys_without_ttl(redis: Redis) -> set[str]:
    return {key.decode() for key in await redis.keys("*") if await redis.ttl(key) == -1
            and await redis.type(key) != b"stream"}


async def test_a_finished_breed_leaves_only_its_gallery_winner_once_its_retention_passed(service) -> None:
    store = service.store
    await voting_breed(service)
    await write_generation(store, 1)  # a second generation, with its own vote message and a morph
    await store.breeds.link_message(VOTE_MESSAGE + 1, "b1", 1)
    await store.votes.add("b1", 1, 0, 20)
    await store.nudges.add("b1", 0, Nudge(20, "density", -1))
    await store.nudges.add("b1", 1, Nudge(21, "register", 1))
    await store.posts.mark_posted("b1", 1, morph_marker(0, 1))
    await store.breeds.add_artifacts("b1", 1, {"clip-1.ogg": b"C"})
    await service.finish("b1", Actor(1), 2)
    await store.breeds.add_artifacts("b1", 1, {name: name.encode() for name in artifacts.WINNER_FILES}, keep=True)

    async def post(breed: Breed, number: int, winner: int) -> None:
        await store.breeds.link_message(VOTE_MESSAGE + 2, "b1", 1)

    assert await service.results.winner_ready("b1", 1, post)
    breed = await service.get("b1")
    await let_pass(RETENTION_S + 0.5)

    winner = str(MelodyRef("b1", 1, breed.winner))
    assert await keys_without_ttl(store.redis) == {
        gallery_key(GUILD), winner_key(winner),
        # The winner's files, once: the gallery plays the breed's own copy.
        *(keys.artifact("b1", 1, name) for name in artifacts.WINNER_FILES),
    }
    assert await store.breeds.message_target(VOTE_MESSAGE) is None and await store.breeds.for_thread(7) is None
    kept = await service.gallery.play(winner, GUILD)
    assert [name for name, _ in kept.files] == list(artifacts.WINNER_FILES)


async def test_an_expired_breeds_melodies_answer_one_clear_line(service) -> None:
    breed = await finished_breed(service)
    await let_pass(RETENTION_S + 0.5)
    winner, other = MelodyRef("b1", 0, breed.winner), MelodyRef("b1", 0, 0)
    expected = {
        winner: f"`{winner}` is in the gallery, but its breed ended over 0 days ago and is no longer kept: "
                "it can be played, made a tune of or composed with, not branched from or drawn.",
        other: f"There is no melody `{other}`: breed `b1` does not exist, or ended over 0 days ago and is no "
               "longer kept.",
    }
    for ref, line in expected.items():
        for attempt in (service.melodies.melody(str(ref), GUILD), service.melodies.request_tree(str(ref), GUILD, 5)):
            with pytest.raises(BreedError) as refused:
                await attempt
            assert str(refused.value) == line


async def test_a_gallery_winner_outlives_its_breed_for_tunes_and_pieces_with_its_own_sound(service) -> None:
    breed = await finished_breed(service)
    store = service.store
    await store.gallery.keep(replace(await store.gallery.winner(str(MelodyRef("b1", 0, breed.winner))),
                                     tempo=90, instrument=40))
    await let_pass(RETENTION_S + 0.5)
    winner, other = str(MelodyRef("b1", 0, breed.winner)), str(MelodyRef("b1", 0, 0))
    assert await store.breeds.get("b1") is None

    tune = await service.tunes.request(winner, GUILD, 7, 5, front="discord")
    # The default length and backing; the worker reads the gallery's tempo and instrument.
    assert (tune.melody, tune.bars, tune.backing) == (winner, DEFAULT_TUNE_BARS, DEFAULT_BACKING)
    piece = await service.compositions.request(f"{winner} {winner}", GUILD, 7, 5)
    assert piece.melodies == (winner, winner)
    assert await service.melodies.sounding(winner, GUILD) == (MelodyRef("b1", 0, breed.winner),
                                                               BreedParams(tempo=90, instrument=40))

    # Only the gallery's own winner, and only on its server.
    jobs = await store.redis.xlen(JOBS)
    for text, server in ((other, GUILD), (winner, GUILD + 1)):
        with pytest.raises(BreedError):
            await service.tunes.request(text, server, 7, 6, front="discord")
        with pytest.raises(BreedError):
            await service.compositions.request(f"{text} {text}", server, 7, 6)
    assert await store.redis.xlen(JOBS) == jobs


async def test_an_open_breed_does_not_expire(service) -> None:
    await finished_breed(service)
    await service.store.breeds.update("b1", status="voting")  # as if it were still going
    await let_pass(RETENTION_S + 0.5)
    assert await service.store.breeds.get("b1") is not None
    await service.stop("b1", Actor(1))
    assert 0 < await service.store.redis.pttl(breed_key("b1")) <= RETENTION_S * 1000
