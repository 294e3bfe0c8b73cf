"""Ingest: load → clean → chunk → embed → store. Entry point: `run_ingest`."""

from ingest.pipeline import IngestReport, remove_article, run_ingest

__all__ = ["IngestReport", "remove_article", "run_ingest"]
