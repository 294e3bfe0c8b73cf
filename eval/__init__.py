"""Eval: question sets, metrics, reports, benchmarks. Entry point: `run_eval`."""

from eval.harness import run_eval

__all__ = ["run_eval"]
