"""The sandbox: local fakes of the Slack Web API and the X API v2, and a Slack request simulator.

`carebot demo` and the tests run the real bot against these over loopback HTTP; nothing here is
used when the bot runs against a real workspace.
"""
