"""Family trees, branching, the gallery and compositions on simulated Discord, with the real worker.

As a new user would try them: a breed finishes with `winner.mid` and `lineage.png`; a second breed
branched from that winner starts from its melody and shows the link; the gallery lists both
winners; a composition of the two plays.
"""

from __future__ import annotations

import discord
import pytest

from bot.voting import NUMBER_EMOJI
from domain.ids import melody_id
from engine.midi import midi_to_notes
from storage import keys
from storage.streams import JOBS
from tests.bot.flows import jobs_of, start_breed, vote_message
from tests.bot.simulation import World, answer_of
from tests.support.bot import bot_posts, finish_with, names

pytestmark = pytest.mark.slow

PNG = b"\x89PNG"


async def test_a_winner_branches_into_a_new_breed_and_both_reach_the_gallery_and_a_composition(
    world: World, worker
) -> None:
    first = await start_breed(world)
    bea, cy, _dot = world.voters
    await bea.react(vote_message(world, first, 0), NUMBER_EMOJI[1])
    winner_post = await finish_with(world, first, 2)

    # The finish post: the winner's files with its family tree, its id, and a Branch button.
    assert names(winner_post) == [
        "winner.mid", "winner.ogg", "winner.png", "lineage.png", "tune.mid", "tune.ogg", "tune.png"]
    assert (await winner_post.attachments[3].read()).startswith(PNG)
    winner_id = melody_id(first.breed_id, 0, 1)
    assert f"`{winner_id}`" in winner_post.content
    buttons = [(c.label, c.custom_id) for row in winner_post.components for c in row.children]
    assert buttons == [("Branch", f"breed:branch:{winner_id}")]

    # Branch: a new breed in the same channel, from the winner's melody, linked in its start post.
    known = {breed.breed_id for breed in await world.store.breeds.open_breeds()}
    pressed = await cy.click(winner_post, label="Branch")
    [second] = [breed for breed in await world.store.breeds.open_breeds() if breed.breed_id not in known]
    assert answer_of(pressed) == (f"Breed `{second.breed_id}` started in <#{second.thread_id}>, "
                                  f"from `{winner_id}`.")
    assert (second.owner_id, second.source, second.channel_id) == (cy.id, winner_id, world.channel.id)
    second = await world.wait_for_status(second.breed_id, "voting", 0)
    [start_post] = [m for m in bot_posts(world, world.channel, "🎼") if second.breed_id in m.content]
    assert f"Branched from `{winner_id}` of breed `{first.breed_id}` (<#{first.thread_id}>)" in start_post.content
    source_melody = (await world.store.breeds.get_generation(first.breed_id, 0)).melodies[1]
    seeded = await world.store.breeds.get_generation(second.breed_id, 0)
    assert seeded.melodies[0] == source_melody
    assert seeded.candidates[0].operators == ("seed",) and seeded.candidates[0].parents == (winner_id,)
    assert all(c.parents == (winner_id,) for c in seeded.candidates if "seed" in c.operators)
    [start_job] = await jobs_of(world, second.breed_id, "start")
    assert start_job.source == winner_id

    # The second breed's tree goes back through the branch into the first breed.
    result = await cy.slash(world.thread_of(second), "breed tree", candidate="1")
    second_winner = melody_id(second.breed_id, 0, 0)
    assert answer_of(result) == (f"Drawing the family tree of `{second_winner}`: it will be posted in "
                                 f"<#{second.thread_id}>.")

    async def tree_posted() -> bool:
        return bool(bot_posts(world, world.thread_of(second), "🌳"))

    await world.wait_for(tree_posted, "the family tree to be posted")
    [tree] = bot_posts(world, world.thread_of(second), "🌳")
    assert names(tree) == ["lineage.png"] and (await tree.attachments[0].read()).startswith(PNG)

    await world.env.advance_time(60)  # a minute later: the second winner is the newer one
    await finish_with(world, second, 1, by=cy)

    # The gallery lists both winners, newest first, with who took part.
    listing = answer_of(await world.voters[2].slash(world.channel, "breed gallery"))
    lines = listing.splitlines()
    assert lines[0] == "🖼️ **Gallery**: 2 winners, newest first (page 1 of 1)"
    assert lines[1].startswith(f"`{second_winner}` · breed `{second.breed_id}` by <@{cy.id}> · 1 person, "
                               f"branched from `{winner_id}`")
    assert lines[2].startswith(f"`{winner_id}` · breed `{first.breed_id}` by <@{world.starter.id}> · 2 people")

    # A composition of the two: A A B A, posted in the channel it was asked in.
    piece = f"{winner_id} {winner_id} {second_winner} {winner_id}"
    asked = await bea.slash(world.channel, "breed compose", melodies=piece)
    assert answer_of(asked) == "Composing 4 phrases: the piece will be posted here."

    async def composed() -> bool:
        return bool(bot_posts(world, world.channel, "🎼 A piece"))

    await world.wait_for(composed, "the composition to be posted")
    [posted] = bot_posts(world, world.channel, "🎼 A piece")
    assert names(posted) == ["composition.ogg", "composition.mid"]
    assert posted.attachments[0].content_type == "audio/ogg"
    notes = midi_to_notes(await posted.attachments[1].read())
    second_melody = (await world.store.breeds.get_generation(second.breed_id, 0)).melodies[0]
    shifted = [(n.pitch, n.start - 64, n.end - 64) for n in notes if 64 <= n.start < 96]
    assert [n for n in notes if n.start < 32] == list(source_melody)
    assert shifted == [(n.pitch, n.start, n.end) for n in second_melody]

    # /breed play posts a gallery winner again, from its kept files.
    played = await bea.slash(world.channel, "breed play", melody=winner_id)
    assert answer_of(played) == f"`{winner_id}` posted."
    [again] = bot_posts(world, world.channel, "🎵")
    assert names(again) == [
        "winner.mid", "winner.ogg", "winner.png", "lineage.png", "tune.mid", "tune.ogg", "tune.png"]


async def test_smooth_joins_put_an_interpolated_bar_between_different_phrases(world: World, worker) -> None:
    breed = await start_breed(world)
    a, b = melody_id(breed.breed_id, 0, 0), melody_id(breed.breed_id, 0, 1)

    await world.voters[0].slash(world.channel, "breed compose", melodies=f"{a} {a} {b}", smooth=True)

    async def composed() -> bool:
        return bool(bot_posts(world, world.channel, "🎼 A piece"))

    await world.wait_for(composed, "the composition to be posted")
    [posted] = bot_posts(world, world.channel, "🎼 A piece")
    assert posted.content.endswith("with smooth joins.")
    # A A (no join between equal phrases), a one-bar join, B: 32 + 32 + 16 + 32 steps.
    seconds = (32 + 32 + 16 + 32) * 60 / breed.params.tempo / 4
    from engine.midi import read_midi

    assert read_midi(await posted.attachments[1].read()).get_end_time() == pytest.approx(seconds)


async def test_nobody_elses_winner_can_be_removed_but_the_starters_and_moderators_can(world: World, worker) -> None:
    first = await start_breed(world)
    await finish_with(world, first, 1)
    winner_id = melody_id(first.breed_id, 0, 0)

    refused = await world.voters[0].slash(world.channel, "breed remove", melody=winner_id)
    assert refused.ephemeral and answer_of(refused) == (
        "Only the breed's starter or members with Manage Messages can remove its winner from the gallery.")
    assert world.refusals() == [answer_of(refused)]

    removed = await world.moderator.slash(world.channel, "breed remove", melody=winner_id)
    assert answer_of(removed) == f"`{winner_id}` is no longer in the gallery."
    assert await world.store.gallery.size(world.guild.id) == 0
    assert await world.store.redis.keys(f"{keys.PREFIX}winner:*") == []
    listing = answer_of(await world.voters[0].slash(world.channel, "breed gallery"))
    assert listing == "This server's gallery is empty: the winner of every finished breed goes there."


async def test_melody_ids_of_another_server_are_refused_in_one_private_line(world: World, worker) -> None:
    breed = await start_breed(world)
    await finish_with(world, breed, 1)
    winner_id = melody_id(breed.breed_id, 0, 0)
    other = world.env.create_guild("Other Club", id=515151515151515151)
    other_channel = other.create_text_channel("tunes")
    stranger = other.add_member(world.env.create_user("zed"))
    await world.bot.sync_commands(other.id)
    await world.env.settle()

    for command, options in [("breed start", {"from": winner_id}), ("breed tree", {"candidate": winner_id}),
                             ("breed play", {"melody": winner_id}), ("breed remove", {"melody": winner_id}),
                             ("breed compose", {"melodies": f"{winner_id} {winner_id}"}),
                             ("breed tune", {"melody": winner_id})]:
        result = await stranger.slash(other_channel, command, **options)
        assert result.ephemeral and answer_of(result) == "That melody belongs to another server.", command
    assert world.refusals() == ["That melody belongs to another server."] * 6
    assert other_channel.history() == []
    assert await jobs_of(world, breed.breed_id, "tree") == []
    assert await world.store.redis.keys(f"{keys.PREFIX}tune:*") == []
    assert await world.store.gallery.size(world.guild.id) == 1


@pytest.mark.parametrize("command, options, refusal", [
    ("breed start", {"from": "nonsense"}, "`nonsense` is not a melody id: ids look like `ab12cd34-g3-5`."),
    ("breed start", {"from": "zzzzzzzz-g1-1"}, "There is no melody `zzzzzzzz-g1-1`: breed `zzzzzzzz` does not "
                                               "exist, or ended over 90 days ago and is no longer kept."),
    ("breed start", {"from": "{breed}-g5-1"}, "There is no melody `{breed}-g5-1`: breed `{breed}` has "
                                              "generations 1 to 1."),
    ("breed start", {"from": "{breed}-g1-9"}, "There is no melody `{breed}-g1-9`: breed `{breed}` has "
                                              "candidates 1 to 4."),
    ("breed tree", {}, "Use this command in a breed's thread, or give the breed's id."),
    ("breed tree", {"candidate": "7", "in_thread": True}, "There is no candidate 7: this breed has 1 to 4."),
    ("breed tree", {"in_thread": True}, "Name a candidate: its number in this generation, or its melody id."),
    ("breed compose", {"melodies": "{breed}-g1-1"}, "A composition joins 2 to 8 melody ids, not 1."),
    ("breed compose", {"melodies": " ".join(["{breed}-g1-1"] * 9)}, "A composition joins 2 to 8 melody ids, not 9."),
    ("breed play", {"melody": "{breed}-g1-1"}, "`{breed}-g1-1` is not in this server's gallery: /breed gallery "
                                               "lists its winners."),
    ("breed gallery", {"page": 2}, "The gallery has 1 page; there is no page 2."),
    ("breed tune", {"melody": "zzzzzzzz-g1-1"}, "There is no melody `zzzzzzzz-g1-1`: breed `zzzzzzzz` does not "
                                                "exist, or ended over 90 days ago and is no longer kept."),
    ("breed tune", {"melody": "7", "in_thread": True}, "There is no candidate 7: this breed has 1 to 4."),
])
async def test_bad_ids_counts_and_pages_are_refused_privately_and_nothing_is_asked_of_the_worker(
    world: World, worker, command: str, options: dict[str, object], refusal: str
) -> None:
    breed = await start_breed(world)
    where = world.thread_of(breed) if options.pop("in_thread", False) else world.channel
    options = {name: str(value).replace("{breed}", breed.breed_id) if isinstance(value, str) else value
               for name, value in options.items()}
    jobs = await world.store.redis.xlen(JOBS)

    result = await world.voters[0].slash(where, command, **options)

    expected = refusal.replace("{breed}", breed.breed_id)
    assert result.ephemeral and answer_of(result) == expected
    assert world.refusals() == [expected]
    assert await world.store.redis.xlen(JOBS) == jobs
    assert [m for m in world.channel.history() if m.author.bot and breed.breed_id not in m.content] == []


async def test_play_where_the_bot_may_not_post_says_what_is_missing(world: World, worker) -> None:
    breed = await start_breed(world)
    await finish_with(world, breed, 1)
    mute = discord.PermissionOverwrite(send_messages=False, attach_files=False)
    locked = world.guild.create_text_channel("quiet", overwrites={world.env.bot.user: mute})

    result = await world.voters[0].slash(locked, "breed play", melody=melody_id(breed.breed_id, 0, 0))

    expected = "I cannot post here: I need Send Messages and Attach Files in this channel."
    assert result.ephemeral and answer_of(result) == expected
    assert world.refusals() == [expected] and locked.history() == []
