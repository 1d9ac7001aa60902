"""Who is calling and what they may do: members, partner keys (scopes, one unit), operators."""
