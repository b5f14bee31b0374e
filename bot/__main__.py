"""`python -m bot` is the `carebot` command."""

import sys

from bot.cli import main

sys.exit(main())
