"""Units with no database: caches, query cost, breakers, the HTTP source on a fake server."""
