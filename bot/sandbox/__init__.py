"""The sandbox: local fakes of Slack (Web API and Socket Mode), X, Bluesky and Mastodon, and a
Slack request simulator.

`carebot demo` and the tests run the real bot against these over loopback HTTP; nothing here is
used when the bot runs against a real workspace.
"""
