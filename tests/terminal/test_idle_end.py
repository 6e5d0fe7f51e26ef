"""Breeds that end by themselves in the terminal (`breeder local`, with the real worker): empty lines in a
row, or the votes on the last generation, finish the breed as `finish` would and say why; the settings that
bound a breed are refused in one line when out of range."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain import artifacts
from engine.midi import midi_to_notes
from runtime.exits import CONFIG_ERROR
from runtime.settings import CommonSettings, load
from storage import BreedStore
from tests.support.local import breed_folder, local

pytestmark = pytest.mark.slow


async def test_empty_lines_in_a_row_end_the_breed_with_the_favourite_of_the_last_votes(
    redis_url: str, store: BreedStore, tmp_path: Path,
) -> None:
    result = local(redis_url, tmp_path, "--population", "3", "--foreign", "1", "--votes", "2; ; ; tune",
                   BREED_MAX_IDLE_ROUNDS="2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert ("This breed ended by itself after 2 rounds without a vote. Its best melody so far wins: candidate 2 "
            "of generation 1.") in result.stdout
    folder = breed_folder(tmp_path)
    breed = await store.breeds.get(folder.name)
    assert (breed.status, breed.generation, breed.winner, breed.winner_generation) == ("finished", 2, 1, 0)
    assert not (folder / "gen-04").exists()  # the second empty line bred nothing
    first = await store.breeds.get_generation(breed.breed_id, 0)
    winner = midi_to_notes((folder / "winner" / artifacts.WINNER_MID).read_bytes())
    assert winner == list(first.melodies[1])
    assert (folder / "winner" / artifacts.TUNE_MID).exists()
    assert f"Tune from {breed.breed_id}-g1-2:" in result.stdout  # `tune` alone: from the winner, as after finish


async def test_the_votes_on_the_last_generation_end_the_breed_with_their_favourite(
    redis_url: str, store: BreedStore, tmp_path: Path,
) -> None:
    result = local(redis_url, tmp_path, "--population", "3", "--foreign", "1", "--votes", "1; 3 3 2",
                   BREED_MAX_GENERATIONS="2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert ("This breed ended by itself: it reached generation 2. Its best melody so far wins: candidate 3 of "
            "generation 2.") in result.stdout
    folder = breed_folder(tmp_path)
    breed = await store.breeds.get(folder.name)
    assert (breed.status, breed.winner, breed.winner_generation, breed.ended) == ("finished", 2, 1, "generations")
    second = await store.breeds.get_generation(breed.breed_id, 1)
    assert midi_to_notes((folder / "winner" / artifacts.WINNER_MID).read_bytes()) == list(second.melodies[2])


@pytest.mark.parametrize("name, value, message", [
    ("breed_max_idle_rounds", 0, "breeder: setting BREED_MAX_IDLE_ROUNDS: Input should be greater than or equal to 1"),
    ("breed_max_generations", 0, "breeder: setting BREED_MAX_GENERATIONS: Input should be greater than or equal to 1"),
    ("vote_minutes", 0.0001, "breeder: setting VOTE_MINUTES: Input should be greater than or equal to 0.5"),
])
def test_settings_out_of_range_are_refused_in_one_line(
    name: str, value: float, message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        load(CommonSettings, _env_file=None, **{name: value})
    assert exited.value.code == CONFIG_ERROR
    assert capsys.readouterr().err.strip() == message


def test_the_settings_give_every_breed_its_end() -> None:
    settings = CommonSettings(_env_file=None, breed_max_idle_rounds=5, breed_max_generations=40)
    params = settings.default_params()
    assert (params.max_idle_rounds, params.max_generations) == (5, 40)
    defaults = CommonSettings(_env_file=None).default_params()
    assert (defaults.max_idle_rounds, defaults.max_generations) == (3, 100)
