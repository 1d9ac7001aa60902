"""Each format's own data about a member (stays, parking, bills...), through the per-format
data sources: Member.activity and Member.overview."""
