"""The HTTP surface of the gateway: FastAPI app, schemas, framing, middleware."""
