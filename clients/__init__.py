"""Clients: the Partner Center client (Microsoft's side) and, later, the storefront SDK."""
