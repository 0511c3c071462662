"""Plain-Python routing the ingress calls in-process: catalogue, model choice, fallbacks."""
