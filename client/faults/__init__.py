"""Fault injection for loopback test clusters (see ``proxy``)."""

from .proxy import FaultPlan, FaultProxy, FaultStats, require_loopback

__all__ = ["FaultPlan", "FaultProxy", "FaultStats", "require_loopback"]
