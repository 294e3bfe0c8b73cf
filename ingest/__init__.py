"""Ingest: load → clean → chunk → embed → store. Entry point: `run_ingest`."""

from ingest.admin import remove_source
from ingest.load import SUPPORTED_SUFFIXES, load_article
from ingest.pipeline import IngestReport, remove_article, run_ingest, source_files
from ingest.versions import list_versions, restore_version, safe_name

__all__ = ["IngestReport", "SUPPORTED_SUFFIXES", "list_versions", "load_article", "remove_article", "remove_source",
           "restore_version", "run_ingest", "safe_name", "source_files"]
