"""Both stores have what the breeding service asks of them (service.stores): every call of every Protocol,
with its parameters in order (more only with a default) (both stores)."""

from __future__ import annotations

import inspect
import typing

from service import stores
from tests.support.stores import AnyStore

# The Protocols of the store's parts, by the attribute path that reaches each from the store.
PARTS: dict[str, type] = {
    "breeds": stores.BreedStates, "votes": stores.VoteRecords, "nudges": stores.NudgeRecords,
    "posts": stores.PostMarks, "locks": stores.Locks, "gallery": stores.GalleryRecords,
    "servers": stores.ServerRecords, "compositions": stores.RequestRecords, "tunes": stores.RequestRecords,
    "streams": stores.Streams, "streams.jobs": stores.JobStream, "streams.events": stores.EventStream,
    "streams.sessions": stores.SessionStream,
}


def _calls(protocol: type) -> dict[str, object]:
    """A Protocol's own members (methods and properties), its bases' included."""
    found: dict[str, object] = {}
    for cls in reversed(protocol.__mro__):
        if cls in (object, typing.Protocol, typing.Generic) or not getattr(cls, "_is_protocol", False):
            continue
        found.update({name: member for name, member in vars(cls).items() if not name.startswith("_")})
    return found


def _parameters(call: object) -> list[tuple[str, object, bool]]:
    return [(parameter.name, parameter.kind, parameter.default is inspect.Parameter.empty)
            for parameter in inspect.signature(call).parameters.values() if parameter.name != "self"]


def _part(store: AnyStore, path: str) -> object:
    found: object = store
    for name in path.split("."):
        found = getattr(found, name)
    return found


def test_every_protocol_of_the_service_is_checked_here() -> None:
    protocols = {value for value in vars(stores).values() if isinstance(value, type)
                 and getattr(value, "_is_protocol", False) and value.__module__ == stores.__name__}
    assert protocols == {*PARTS.values(), stores.Store}


def test_the_store_has_every_part_the_service_uses(store: AnyStore) -> None:
    for name in _calls(stores.Store):
        assert hasattr(store, name), f"{type(store).__name__} has no {name}"


def test_every_part_has_every_call_the_service_makes_with_its_parameters(store: AnyStore) -> None:
    for path, protocol in PARTS.items():
        part = _part(store, path)
        for name, member in _calls(protocol).items():
            assert hasattr(part, name), f"{type(store).__name__}.{path} has no {name}"
            if isinstance(member, property):
                continue
            # The Protocol's parameters, in order; more only with a default (e.g. ensure_groups' forget_idle_ms).
            has, asked = _parameters(getattr(part, name)), _parameters(member)
            what = f"{path}.{name} of {type(store).__name__}"
            assert has[:len(asked)] == asked, what
            assert not any(required for _name, _kind, required in has[len(asked):]), what
