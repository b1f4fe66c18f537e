"""The gateway as files: rendered Envoy config, OpenAPI document, docker-compose.yml."""
