"""A member's requests are spaced per kind: each kind (morph, tune, tree, piece, replay) waits its own
setting, and a wait for one kind never delays another."""

from __future__ import annotations

import pytest

from domain.errors import BreedError
from domain.limits import ServerLimits
from domain.rules import Actor
from service.breeding import BreedingService
from storage import BreedStore
from tests.support.service import GUILD, NOW, finished_breed, jobs, voting_breed

MEMBER = 3
CHANNEL = 8


async def test_a_member_who_just_asked_for_a_morph_may_ask_for_a_tune_at_once_and_a_second_tune_waits(
    store: BreedStore,
) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(morph_cooldown_s=10, tune_cooldown_s=30))
    await voting_breed(service)
    before = len(await jobs(store))
    await service.request_morph("b1", 1, 2, 5, Actor(MEMBER))
    await service.tunes.request("b1-g1-1", GUILD, CHANNEL, MEMBER, front="discord")
    queued = len(await jobs(store))
    assert queued == before + 2  # the morph's job and the tune's

    with pytest.raises(BreedError, match="^Slow down: you can ask for another tune in 30 s.$"):
        await service.tunes.request("b1-g1-2", GUILD, CHANNEL, MEMBER, bars=16, front="discord")
    with pytest.raises(BreedError, match="^Slow down: you can ask for another morph in 10 s.$"):
        await service.request_morph("b1", 2, 3, 5, Actor(MEMBER))
    assert len(await jobs(store)) == queued  # the refusals queued nothing
    await service.tunes.request("b1-g1-2", GUILD, CHANNEL, MEMBER + 1, bars=16,
                                front="discord")  # another member's own wait
    assert len(await jobs(store)) == queued + 1


async def test_each_kind_waits_its_own_setting_and_none_delays_another(store: BreedStore) -> None:
    limits = ServerLimits(tune_cooldown_s=31, tree_cooldown_s=32, compose_cooldown_s=33, play_cooldown_s=34)
    service = BreedingService(store, lambda: NOW, limits=limits)
    await finished_breed(service)
    asks = {
        "tune": lambda: service.tunes.request("b1-g1-1", GUILD, CHANNEL, MEMBER, front="discord"),
        "family tree": lambda: service.melodies.request_tree("b1-g1-1", GUILD, MEMBER),
        "piece": lambda: service.compositions.request("b1-g1-1 b1-g1-2", GUILD, CHANNEL, MEMBER),
        "replay": lambda: service.gallery.play("b1-g1-2", GUILD, MEMBER),
    }
    for ask in asks.values():
        await ask()  # one of each, straight after one another
    for (what, ask), wait in zip(asks.items(), (31, 32, 33, 34), strict=True):
        with pytest.raises(BreedError, match=f"^Slow down: you can ask for another {what} in {wait} s.$"):
            await ask()


def test_a_kind_without_a_wait_of_its_own_is_a_mistake_not_a_free_pass() -> None:
    with pytest.raises(ValueError, match="no cooldown for requests of kind 'dance'"):
        ServerLimits(morph_cooldown_s=10).cooldown_s("dance")
