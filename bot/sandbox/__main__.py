"""`python -m bot.sandbox`: fake Slack and fake X with a control API, in their own process."""

from bot.sandbox.server import main

main()
