"""Code-suggestion processing: language detection, truncation, post-processing (API.md §7)."""
