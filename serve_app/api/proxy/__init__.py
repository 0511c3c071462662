"""The provider proxies `/v1/proxy/{anthropic|vertex-ai|openai}/{path}` (API.md §1.9)."""
