"""Code embeddings (API.md §1.11): Vertex text embeddings, any OpenAI-compatible
`/v1/embeddings` endpoint a request names, and the embedded llama.cpp model as the default of
a gateway with no Google project. `Embedder` holds the clients; `types` the target and errors."""
