"""The device agent: runs on a machine with devices attached and talks to the platform only over the REST
API with an agent token. It must never import Django (it ships to lab machines without the platform)."""
