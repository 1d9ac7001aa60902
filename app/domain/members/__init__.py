"""Members: one identity across the group, registration, and dynamic member codes."""
