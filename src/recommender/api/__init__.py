"""The HTTP API: routers, request and response schemas, error handling."""
