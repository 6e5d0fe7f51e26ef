"""What the bot writes, and who may steer a breed."""

from __future__ import annotations

import pytest

from bot.texts import (
    generation_text,
    morph_failed_text,
    morph_requested_text,
    morph_text,
    plan_messages,
    progress_text,
    start_text,
    status_text,
)
from domain.instruments import instrument_name
from domain.model import Breed, BreedParams, Front
from domain.rules import Actor as Caller
from domain.rules import may_steer

OWNER = 11


def breed(**fields: object) -> Breed:
    values: dict[str, object] = {"breed_id": "abc12345", "owner_id": OWNER, "params": BreedParams(population=4),
                                 "front": Front.DISCORD, "thread_id": 77}
    values.update(fields)
    return Breed(**values)


@pytest.mark.parametrize("caller, allowed", [
    (Caller(OWNER, manage_messages=False), True),
    (Caller(12, manage_messages=True), True),
    (Caller(12, manage_messages=False), False),
])
def test_the_starter_and_message_managers_may_steer_a_breed_and_nobody_else(caller: Caller, allowed: bool) -> None:
    assert may_steer(OWNER, caller) is allowed


def test_progress_goes_from_queued_through_the_worker_stages_to_posted() -> None:
    stages = ("queued", "evolving", "decoding", "rendering", "posted")
    lines = [progress_text(1, stage) for stage in stages]
    assert len(set(lines)) == len(stages)  # each stage says something of its own
    assert all("Generation 2" in line for line in lines)  # the generation counted from 1
    assert [line.startswith("⏳") for line in lines] == [True] * 4 + [False]  # waiting until posted
    assert "unheard-of" in progress_text(0, "unheard-of")  # a stage from a newer worker is shown as it is


def test_a_generation_post_says_when_voting_closes_as_a_discord_timestamp() -> None:
    text = generation_text(breed(), 2, 1_767_225_780.7, rerolled=False)
    assert text.startswith("**Generation 3** of breed `abc12345`")
    assert text.endswith("Voting closes <t:1767225780:R>.")
    assert "fresh random" not in text
    assert "fresh random" in generation_text(breed(), 2, 0, rerolled=True)


def test_files_go_ten_to_a_message_in_order() -> None:
    names = [f"clip-{i}.ogg" for i in range(1, 11)] + ["roll.png"]
    plan = plan_messages(names)
    assert plan == [names[:10], ["roll.png"]]
    assert plan_messages(names[:5]) == [names[:5]]
    assert plan_messages([]) == []
    assert all(len(chunk) <= 3 for chunk in plan_messages(names, 3))


def test_start_and_status_lines_describe_the_breed() -> None:
    params = BreedParams(population=6, sigma=0.25, foreign=2, vote_minutes=1.5, tempo=90, instrument=73)
    started = start_text(OWNER, "abc12345", params, "tune.mid")
    for shown in (f"<@{OWNER}>", "`abc12345`", "6 candidates", "σ 0.25", "2 foreign", "1.5 min", "90 BPM",
                  instrument_name(73), "`tune.mid`"):
        assert shown in started
    assert "strategy" not in started  # the default strategy goes unsaid
    assert "band backing · 16-bar tune" in start_text(OWNER, "abc12345", BreedParams(backing="band", bars=16), None)
    voting = status_text(breed(status="voting", generation=1, vote_deadline=100.0), (0, 3, 0, 1))
    assert "voting on generation 2, closes <t:100:R>; votes: 2️⃣ 3 · 4️⃣ 1" in voting
    finished = status_text(breed(status="finished", generation=4, winner=2), ())
    assert "the winner is candidate 3 of generation 5" in finished
    assert "making generation 1" in status_text(breed(status="starting"), ())
    elitist = BreedParams(strategy="elitist", backing="none")
    assert start_text(OWNER, "abc12345", elitist, None).endswith(
        "· Piano · no backing · 8-bar tune · elitist strategy.")


def test_instruments_have_names_and_unknown_programs_their_number() -> None:
    assert instrument_name(40) == "Violin"
    assert instrument_name(33) == "GM program 33"


def test_morph_lines_number_candidates_and_generations_from_one() -> None:
    assert "from candidate 2 to candidate 5" in morph_requested_text(1, 4)
    assert "from candidate 2 to candidate 5 of generation 3" in morph_text(1, 4, 2, 5)
    assert "5 steps" in morph_text(1, 4, 2, 5) and "steps" not in morph_text(1, 4, 2, None)
    failed = morph_failed_text(0, 1, "Oops.")
    assert "from candidate 1 to candidate 2" in failed and failed.endswith("Oops.")
