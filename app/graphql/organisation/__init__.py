"""The group's business units."""
