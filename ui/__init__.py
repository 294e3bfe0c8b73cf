"""The web chat (Gradio only). Entry point: `serve`."""

from ui.app import build_app, serve

__all__ = ["build_app", "serve"]
