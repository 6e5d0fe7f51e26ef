"""The Discord bot: slash commands, reactions as votes, posts of each generation. No TensorFlow here."""
