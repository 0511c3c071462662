"""GitLab documentation search (API.md §1.8): Vertex AI Search over the `gitlab-docs-<major>-
<minor>` data stores, or, when custom models are enabled (self-managed), a local SQLite FTS5
index built by `aigw docs-index PATH`. Both answer `SearchHit`s; `build_docs_searcher` picks."""
