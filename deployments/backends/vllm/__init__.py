"""vLLM replicas inside the graph: one `ray.serve.llm` server deployment per custom model.

`spec` (what an operator writes in serve_config.yaml) and `protocol` (ModelRequest <-> OpenAI
bodies) are plain Python; `server` and `builder` import `ray.serve.llm`, which needs vLLM, so
only the builder loads them, and only when a custom model is configured.
"""
