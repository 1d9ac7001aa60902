"""Figures (数据通): the programme's figures by format and period (programme), who the members
are across formats (audience, referrals), whose points expire soon (expiring), all but the
last read from summary tables the refresh-figures job keeps (summary). docs/figures.md."""
