"""Helpers of bench/web_load.py: bench-only settings, urlconf, probes and wrk scripts."""
