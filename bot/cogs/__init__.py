"""Extensions of the bot, one per feature; each ends with `async def setup(bot)`."""
