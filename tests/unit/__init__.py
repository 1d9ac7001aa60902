"""Units with no database: caches, the query cost, breakers, the HTTP source against a fake server."""
