"""Ingest: load → clean → chunk → embed → store. Entry point: `run_ingest`."""

from ingest.load import SUPPORTED_SUFFIXES
from ingest.pipeline import IngestReport, remove_article, run_ingest, source_files

__all__ = ["IngestReport", "SUPPORTED_SUFFIXES", "remove_article", "run_ingest", "source_files"]
