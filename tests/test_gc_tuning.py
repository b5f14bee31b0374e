"""The bot process freezes what start-up built and collects young objects less often (the reasons
and measurements are in `bot.serve.tune_garbage_collector`). Run in a child process, so this
test process keeps its own collector settings."""

from __future__ import annotations

import subprocess
import sys

from bot.sandbox.stack import SOURCE_ROOT

PROBE = """
import gc
from bot.serve import tune_garbage_collector
before = gc.get_freeze_count()
tune_garbage_collector()
print(gc.get_threshold(), before, gc.get_freeze_count() > 10_000)
"""


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=SOURCE_ROOT
    )
    assert done.stdout.split() == ["(20000,", "20,", "20)", "0", "True"]
