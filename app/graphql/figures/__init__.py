"""Figures (数据通): programmeFigures, formatOverlap, memberSegments, referralStats and
expiringPoints (docs/figures.md)."""
