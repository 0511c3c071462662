"""`/v1/chat/{chat_invokable}` (legacy) and `/v2/chat/agent` (API.md §1.6)."""
