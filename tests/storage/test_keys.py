"""Keys per concept: each concept of the store names its own keys, and the names stay as Redis holds them."""

from __future__ import annotations

import ast
from pathlib import Path

from storage import breeds, gallery, keys, locks, nudges, posts, requests, streams, votes

STORAGE = Path(__file__).resolve().parents[2] / "storage"
# The store's concepts, each a module (or a package of modules) with its keys and its classes; store.py composes them.
CONCEPTS = ("breeds", "streams", "votes", "nudges", "posts", "locks", "gallery", "requests")


def test_every_key_is_named_as_redis_holds_it() -> None:
    # Data written by earlier versions is read as it is: no key may change its name.
    assert [streams.JOBS, streams.EVENTS, streams.DEAD_LETTERS, streams.WORKERS_GROUP] == [
        "mb:jobs", "mb:events", "mb:dead-letters", "workers"]
    assert [streams.event_group("discord"), streams.event_group("web"), streams.shards_front([3, 1]),
            streams.event_group(streams.session_reader("s1"))] == ["bots", "web", "bots-shards-1-3", "terminal:s1"]
    assert streams.session_alive_key("s1") == "mb:session:s1:alive"
    assert [breeds.OPEN_BREEDS, breeds.THREADS, breeds.MESSAGES] == ["mb:breeds:open", "mb:threads", "mb:messages"]
    assert [breeds.breed_key("b"), breeds.generation_key("b", 2), breeds.latents_key("b", 2),
            breeds.thread_key(5), breeds.message_key(6), breeds.upload_key("u")] == [
        "mb:breed:b", "mb:breed:b:gen:2", "mb:breed:b:gen:2:latents", "mb:thread:5", "mb:message:6", "mb:upload:u"]
    assert keys.artifact("b", 2, "x.mid") == "mb:breed:b:gen:2:artifact:x.mid"
    assert [votes.votes_key("b", 2), nudges.nudges_key("b", 2), posts.posted_key("b", 2, "winner"),
            posts.posted_parts_key("b", 2, "generation")] == [
        "mb:breed:b:gen:2:votes", "mb:breed:b:gen:2:nudges", "mb:breed:b:gen:2:posted:winner",
        "mb:breed:b:gen:2:parts:generation"]
    assert [locks.lock_key("b"), locks.start_lock_key(None), locks.start_lock_key(7),
            locks.cooldown_key("start", 3)] == [
        "mb:breed:b:lock", "mb:start-lock:local", "mb:start-lock:7", "mb:cooldown:start:3"]
    assert [gallery.gallery_key(None), gallery.gallery_key(7), gallery.winner_key("m"),
            gallery.winner_file_key("m", "f")] == [
        "mb:gallery:local", "mb:gallery:7", "mb:winner:m", "mb:winner:m:file:f"]
    assert [requests.request_key(requests.COMPOSITION, "c"), requests.file_key(requests.COMPOSITION, "c", "f"),
            requests.posted_key(requests.COMPOSITION, "c"), requests.request_key(requests.TUNE, "t"),
            requests.file_key(requests.TUNE, "t", "f"), requests.posted_key(requests.TUNE, "t"),
            requests.failed_key(requests.TUNE, "t")] == [
        "mb:composition:c", "mb:composition:c:file:f", "mb:composition:c:posted", "mb:tune:t", "mb:tune:t:file:f",
        "mb:tune:t:posted", "mb:tune:t:failed"]


def test_a_concept_of_the_store_uses_its_own_keys_and_the_shared_ones_only() -> None:
    for concept, path in _concept_modules():
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {f"storage.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.module == "storage" for alias in node.names}
        others = {f"storage.{other}" for other in CONCEPTS if other != concept}
        assert imported & others == set(), f"{path} reaches into {sorted(imported & others)}"


def _concept_modules() -> list[tuple[str, Path]]:
    found = []
    for concept in CONCEPTS:
        module = STORAGE / f"{concept}.py"
        paths = [module] if module.exists() else sorted((STORAGE / concept).glob("*.py"))
        found += [(concept, path) for path in paths]
    return found
