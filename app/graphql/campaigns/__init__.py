"""Campaigns: list, simulate, create, update, end."""
