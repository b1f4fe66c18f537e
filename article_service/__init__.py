"""The article service: stores blog articles and serves them over gRPC."""
