"""Figures (数据通): the programme's figures by format and period. Empty until that issue lands."""
