"""Kubernetes manifests (kustomize) and the command that renders the gateway's ConfigMap."""
