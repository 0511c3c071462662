"""`/v1/embeddings/code_embeddings` and its `/index` and `/search` aliases (API.md §1.11)."""
