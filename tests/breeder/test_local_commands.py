"""What people type in the local session."""

from __future__ import annotations

import pytest

from terminal.session import Command, CommandError, fitness_from_votes, parse_command


def test_votes_are_one_based_numbers_and_may_repeat():
    assert parse_command("1 3 3 5", 8) == Command("votes", (0, 2, 2, 4))
    assert fitness_from_votes((0, 2, 2, 4), 6) == (1, 0, 2, 0, 1, 0)


def test_an_empty_line_is_a_round_without_votes():
    command = parse_command("   ", 8)
    assert command == Command("votes", ())
    assert not any(fitness_from_votes(command.votes, 8))


def test_sigma_finish_and_quit():
    assert parse_command("sigma 0.25", 8) == Command("sigma", sigma=0.25)
    assert parse_command("finish", 8) == Command("finish")
    assert parse_command("finish 4", 8) == Command("finish", candidate=3)
    assert parse_command("quit", 8).kind == "quit"


@pytest.mark.parametrize(
    ("line", "message"),
    [("0", "not a candidate"), ("9", "not a candidate"), ("2 x", "not a candidate"),
     ("sigma 2", "between 0 and 1"), ("sigma", "sigma"), ("sigma abc", "not a number"),
     ("finish 1 2", "one candidate"), ("finish 12", "not a candidate")],
)
def test_nonsense_is_refused_with_a_message(line, message):
    with pytest.raises(CommandError, match=message):
        parse_command(line, 8)
