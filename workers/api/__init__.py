"""`csp-orders api`: the storefronts' HTTP API over the storefront SDK (docs/openapi.json)."""
