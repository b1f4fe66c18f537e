"""Persistence of the article service, a module per role: tables, statements (the SQL,
compiled once), filtered (the SQL of the listing's filters and search), repositories and uow
(the session unit of work), driver (the asyncpg path and CreateArticle's unit), readers
(the read side), batching and lock."""
