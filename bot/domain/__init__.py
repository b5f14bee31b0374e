"""Carebot's domain: plain values and enums for cases, what happens to them, and digests. It
imports nothing from storage, services or Slack, so everything else may depend on it."""

from bot.domain.cases import Case, CaseStatus, Priority, ResolveReason, describe_resolution
from bot.domain.digest import (
    AgentFigures,
    Bucket,
    CaseList,
    Digest,
    HomeData,
    OpenCaseRow,
    Period,
    QueueCounts,
    Span,
    Window,
)
from bot.domain.events import (
    CaseEvent,
    Claimed,
    Released,
    Reopened,
    ReplyNotPosted,
    ReplySent,
    Resolved,
)

__all__ = [
    "AgentFigures",
    "Bucket",
    "Case",
    "CaseEvent",
    "CaseList",
    "CaseStatus",
    "Claimed",
    "Digest",
    "HomeData",
    "OpenCaseRow",
    "Period",
    "Priority",
    "QueueCounts",
    "Released",
    "Reopened",
    "ReplyNotPosted",
    "ReplySent",
    "ResolveReason",
    "Resolved",
    "Span",
    "Window",
    "describe_resolution",
]
