"""Helpers of bench/compare.py (standard library only)."""
