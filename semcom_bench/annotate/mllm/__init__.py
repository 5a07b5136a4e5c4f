"""Talking to a multimodal LLM through any OpenAI-compatible server: prompts, set-of-mark images, cache, costs."""
