"""What people type in the terminal session: the form here, the rules in the breeding service."""

from __future__ import annotations

import pytest

from terminal.commands import Command, CommandError, parse_command


def test_votes_are_one_based_numbers_and_may_repeat():
    assert parse_command("1 3 3 5") == Command("votes", (0, 2, 2, 4))
    assert parse_command("2,4") == Command("votes", (1, 3))


def test_an_empty_line_is_a_round_without_votes():
    assert parse_command("   ") == Command("votes", ())


def test_sigma_finish_and_quit():
    assert parse_command("sigma 0.25") == Command("sigma", sigma=0.25)
    assert parse_command("finish") == Command("finish")
    assert parse_command("finish 4") == Command("finish", candidate=4)
    assert parse_command("quit").kind == "quit"


@pytest.mark.parametrize(
    ("line", "message"),
    [("2 x", "not a candidate"), ("-1", "not a candidate"), ("sigma", "sigma"), ("sigma abc", "not a number"),
     ("finish 1 2", "one candidate"), ("finish x", "not a candidate")],
)
def test_nonsense_is_refused_with_a_message(line, message):
    with pytest.raises(CommandError, match=message):
        parse_command(line)


def test_tune_takes_a_melody_id_bars_and_backing_in_any_order():
    assert parse_command("tune") == Command("tune")
    assert parse_command("tune ab12cd34-g3-5") == Command("tune", melody="ab12cd34-g3-5")
    assert parse_command("tune 16 band ab12cd34-g3-5") == Command("tune", melody="ab12cd34-g3-5", bars=16,
                                                                  backing="band")
    assert parse_command("tune 12") == Command("tune", bars=12)  # the service says which lengths there are


def test_a_tune_with_two_lengths_is_refused():
    with pytest.raises(CommandError, match="tune <melody id>"):
        parse_command("tune 8 16")


def test_a_nudge_is_an_attribute_and_an_amount_as_typed():
    assert parse_command("nudge density -1") == Command("nudge", attribute="density", amount="-1")
    assert parse_command("NUDGE register +1.5") == Command("nudge", attribute="register", amount="+1.5")
    with pytest.raises(CommandError, match="e.g. `nudge density -1`"):
        parse_command("nudge density")
