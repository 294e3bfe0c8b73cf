"""Web chat (Gradio only)."""
