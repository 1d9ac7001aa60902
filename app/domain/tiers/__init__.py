"""Tiers: growth value over the rolling window, upgrades, validity, grants and history."""
