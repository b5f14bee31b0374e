"""Carebot's benchmarks: `python -m bench [names...]` (or `make bench`).

Each benchmark is a module here that registers itself with `bench.common.register`; add its
module to `MODULES` below and it runs with the others. Every figure is printed as one JSON line.
"""

from __future__ import annotations

import importlib

from bench.common import REGISTRY, Benchmark

# One line per benchmark: the module registers it on import.
MODULES = (
    "bench.ingest",
    "bench.delivery_paced",
    "bench.ack_latency",
    "bench.sla_check",
    "bench.digest",
    "bench.memory",
    "bench.compliance",
    "bench.networks",
    "bench.restart",
)


def load() -> dict[str, Benchmark]:
    """Import every benchmark module and return the registry, in registration order."""
    for module in MODULES:
        importlib.import_module(module)
    return REGISTRY
