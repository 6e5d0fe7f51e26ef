"""Bad input, tried systematically: every refusal is one clear line (BreedError) and changes nothing.

Hypothesis generates the options, uploads and stream messages; anything else than a refusal or a
valid result (a TypeError, a crash, a write) fails the test.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import BreedError
from domain.model import BreedParams, Note
from engine.midi import melody_to_midi
from service.breeding import BreedingService
from storage import BreedStore, connect, keys
from storage.codec import SchemaError, dump, load_event, load_job

NOW = 1_800_000_000.0
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3),
)
OPTIONS = ("population", "sigma", "foreign", "vote_minutes", "tempo", "instrument", "strategy")
TUNE = melody_to_midi([Note(60, 0, 4), Note(64, 4, 8), Note(67, 8, 16)], 120, 0)


# A loaded 2-core machine may be slow to draw examples: no deadlines, no speed health check.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RELAXED
@given(st.dictionaries(st.sampled_from(OPTIONS), VALUES, max_size=len(OPTIONS)))
def test_any_options_give_valid_params_or_one_line_refusal(choices: dict[str, object]) -> None:
    service = BreedingService(BreedStore(connect("redis://unused")), lambda: NOW)  # options never reach Redis
    try:
        params = service.params(**choices)
    except BreedError as error:
        text = str(error)
        assert text.startswith("Cannot start: ") and "\n" not in text and len(text) < 200
    else:
        params.validate()
        given_options = {name: value for name, value in choices.items() if value is not None}
        assert all(getattr(params, name) == value for name, value in given_options.items())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda cut: TUNE[:cut], st.integers(0, len(TUNE) - 1)),  # truncated
    st.builds(lambda at, byte: TUNE[:at] + bytes([byte]) + TUNE[at + 1:], st.integers(0, len(TUNE) - 1),
              st.integers(0, 255)),  # one byte changed
))
def test_any_bytes_as_a_seed_midi_are_a_melody_or_one_line_refusal(data: bytes) -> None:
    try:
        BreedingService.check_seed("tune.mid", data)
    except BreedError as error:
        assert str(error).startswith("`tune.mid` cannot be used: ") and "\n" not in str(error)


def test_a_huge_seed_or_one_without_notes_is_refused_and_thousands_of_notes_are_fine() -> None:
    with pytest.raises(BreedError, match="too big"):
        BreedingService.check_seed("big.mid", TUNE + b"\0" * (1 << 20))
    with pytest.raises(BreedError, match="has no notes"):
        BreedingService.check_seed("empty.mid", melody_to_midi([], 120, 0))
    many = melody_to_midi([Note(48 + i % 36, i, i + 1) for i in range(5000)], 120, 0, steps=5000)
    BreedingService.check_seed("many.mid", many)
    with pytest.raises(BreedError, match="not a MIDI file"):
        BreedingService.check_seed("tune.wav", TUNE)


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10,
)
FIELDS = ("v", "type", "breed_id", "generation", "fitness", "sigma", "candidate", "other", "steps",
          "seed_midi_key", "stage", "message", "job")


@RELAXED
@given(st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=6).map(lambda d: __import__("json").dumps(d)),
))
def test_any_stream_message_decodes_or_is_refused_as_a_schema_error(raw: bytes | str) -> None:
    for load in (load_job, load_event):
        try:
            load(raw)
        except SchemaError:
            pass


def test_a_message_of_another_schema_version_is_refused() -> None:
    from domain.jobs import StartJob

    raw = dump(StartJob("b1")).replace('"v":1', '"v":2')
    with pytest.raises(SchemaError, match="unsupported schema version 2"):
        load_job(raw)


@pytest.fixture
def service(store: BreedStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)


async def test_refused_commands_change_nothing_in_redis(service: BreedingService, store: BreedStore) -> None:
    from domain.rules import Actor

    breed = await service.start(breed_id="b1", owner_id=1, params=BreedParams(population=3), front="discord")
    before = {key: await store.redis.dump(key) for key in await store.redis.keys(f"{keys.PREFIX}*")}
    attempts = [
        service.close_voting("b1", Actor(1)),  # generation 1 is still being made
        service.finish("b1", Actor(1), 2),
        service.set_sigma("b1", Actor(2), 0.3),  # not the starter
        service.set_sigma("b1", Actor(1), 7.0),
        service.request_morph("b1", 1, 9, 5),
        service.votes.cast_ballot("b1", 0, 1, [0]),
        service.close_voting("nope", Actor(1)),
        service.finish("b1", Actor(1), 1, generation=5),
    ]
    for attempt in attempts:
        with pytest.raises(BreedError):
            await attempt
    after = {key: await store.redis.dump(key) for key in await store.redis.keys(f"{keys.PREFIX}*")}
    assert after == before
    assert dataclasses.replace(await service.get("b1")) == breed
