"""The model registry: every trained version with its metrics, artifact and status."""
