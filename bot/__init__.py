"""Carebot: social customer care run from Slack.

The core package: settings, app wiring, the CLI, source adapters, services, Block Kit builders and
the sandbox fakes used by `carebot demo` and the tests.
"""

__version__ = "0.1.0"
