"""The auth service: users, passwords, login and access-token signing (schema "auth")."""
