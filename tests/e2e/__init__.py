"""End-to-end: HTTP through the real Envoy to the real services and PostgreSQL."""
