"""Settlement (结算通) in GraphQL: statements, closing a period."""
