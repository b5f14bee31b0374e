"""Shared helpers for the benchmarks: the registry, figures and their JSON lines, timing, peak
memory, and throwaway databases (SQLite always; PostgreSQL when `CAREBOT_BENCH_POSTGRES_URL`).

A benchmark is an async function taking the database kind and returning `Figure`s; it registers
with one decorator line. Figures are measurements, so a missed target is `ok: false`, not an
error; a benchmark raises (`BenchmarkFailed`) only when the system did the wrong thing.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_ingest
from bot.clock import utc_now
from bot.ingest import IngestService
from bot.settings import Settings
from storage.engine import SessionFactory, create_engine
from storage.migrate import upgrade

DbKind = Literal["sqlite", "postgresql"]
POSTGRES_ENV = "CAREBOT_BENCH_POSTGRES_URL"

BenchFn = Callable[[DbKind], Coroutine[Any, Any, list["Figure"]]]


class BenchmarkFailed(AssertionError):
    """The system under test produced a wrong result; the timings mean nothing."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number and the target it is judged against (`ok` None: no target)."""

    bench: str
    metric: str
    value: float | int | str
    unit: str
    target: str = ""
    ok: bool | None = None


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A registered benchmark: which databases it runs on and how long it roughly takes."""

    name: str
    run: BenchFn
    databases: tuple[DbKind, ...]
    summary: str


REGISTRY: dict[str, Benchmark] = {}


def register(name: str, *, summary: str, per_database: bool = True) -> Callable[[BenchFn], BenchFn]:
    """Add a benchmark; `per_database=False` runs it on SQLite only (it does not measure SQL)."""

    def add(fn: BenchFn) -> BenchFn:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} registered twice")
        kinds: tuple[DbKind, ...] = ("sqlite", "postgresql") if per_database else ("sqlite",)
        REGISTRY[name] = Benchmark(name=name, run=fn, databases=kinds, summary=summary)
        return fn

    return add


def available_databases() -> tuple[DbKind, ...]:
    """Return the database kinds this run can use."""
    return ("sqlite", "postgresql") if os.environ.get(POSTGRES_ENV) else ("sqlite",)


def machine() -> dict[str, Any]:
    """Return what a figure needs to be compared with another run's."""
    return {
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
    }


def figure_line(figure: Figure, *, db: DbKind) -> dict[str, Any]:
    """Return the JSON object printed for one figure."""
    return {
        "bench": figure.bench,
        "metric": figure.metric,
        "value": figure.value,
        "unit": figure.unit,
        "target": figure.target,
        "ok": figure.ok,
        **machine(),
        "command": f"python -m bench {figure.bench}",
        "db": db,
    }


def emit(figure: Figure, *, db: DbKind, out: TextIO | None = None) -> None:
    """Print one figure as one JSON line (stdout is for figures only; progress goes to stderr)."""
    stream = out or sys.stdout
    stream.write(json.dumps(figure_line(figure, db=db)) + "\n")
    stream.flush()


def progress(message: str) -> None:
    """Tell the person watching what is happening, without polluting the JSON on stdout."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Stopwatch:
    """Wall-clock laps, named, in seconds."""

    laps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def lap(self, name: str) -> Iterator[None]:
        """Time the block and store it under `name`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = time.perf_counter() - start


def peak_rss_mib() -> float:
    """Return this process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mib() -> float | None:
    """Return this process's resident set size now, in MiB (Linux only; None elsewhere)."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


@asynccontextmanager
async def temp_database(kind: DbKind) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """Yield (url, migrated engine) for an empty database of `kind`; drop it afterwards.

    PostgreSQL: the schema `public` of `CAREBOT_BENCH_POSTGRES_URL` is dropped and recreated, so
    point it at a scratch database.
    """
    if kind == "postgresql":
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            raise RuntimeError(f"{POSTGRES_ENV} is not set")
        await _reset_postgres(url)
        engine = create_engine(url)
        try:
            await upgrade(engine)
            yield url, engine
        finally:
            await engine.dispose()
        return
    with tempfile.TemporaryDirectory(prefix="carebot-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine(url)
        try:
            await upgrade(engine)
            yield url, engine
        finally:
            await engine.dispose()


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def ingest_service(sessions: SessionFactory, settings: Settings) -> IngestService:
    """Return the ingest service exactly as `bot.app` wires it from `settings`."""
    return build_ingest(settings, sessions=sessions, clock=utc_now)


T = TypeVar("T")


async def poll(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    seconds: float,
    interval: float = 0.05,
) -> T:
    """Read until `done` holds or `seconds` run out; return the last reading either way."""
    deadline = time.monotonic() + seconds
    while True:
        value = await read()
        if done(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)
