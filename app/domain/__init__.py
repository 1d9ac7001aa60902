"""The loyalty rules. Plain async functions over a unit of work; nothing here knows GraphQL."""
