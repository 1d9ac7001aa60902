"""The GraphQL skin: parse, authorise, call the domain, shape the answer."""
