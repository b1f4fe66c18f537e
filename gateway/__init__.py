"""The Envoy JSON gateway: envoy.yaml rendered from settings, OpenAPI from the protos, docs."""
