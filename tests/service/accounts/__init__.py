"""Account deletion across the auth and article services, over real servers."""
