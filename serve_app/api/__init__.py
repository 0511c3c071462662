"""The HTTP surface of the gateway (the ingress node's API layer).

One package per area of the contract, in the shape of vLLM's OpenAI entrypoints: `protocol.py`
holds the request and response models, `serving.py` the handlers, which speak only those types.
Around them: the app factory (`app`), what handlers read from a request (`context`), how each
endpoint family answers errors (`error_policy`), how bodies and frames are written (`framing`,
`coalesce`), and the ASGI middleware.
"""
