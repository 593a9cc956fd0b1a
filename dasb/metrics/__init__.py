"""Metrics: pure functions of aligned reference and estimate, with metadata."""
from dasb.metrics.base import Metric, MetricError

__all__ = ["Metric", "MetricError"]
