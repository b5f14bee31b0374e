"""Slack UI as pure functions: the Slack IDs, mrkdwn text helpers, the case card, the modals and
the short thread lines. Nothing here does I/O; handlers and delivery send what these return."""
