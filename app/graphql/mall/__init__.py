"""The points mall as GraphQL shows it: the catalogue, orders, the lottery."""
