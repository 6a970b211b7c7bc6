"""Deadlines that follow the lifecycle, the sweep that escalates missed ones, and the
notification outbox."""
