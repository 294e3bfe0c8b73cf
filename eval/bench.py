"""Benchmarks: ingest seconds (first run and unchanged re-run) and warm `ask` latency, on a private
copy of the sources folder. Targets live here, not in timed tests. Run: `make bench`."""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from eval.harness import load_questions
from sourcechat.settings import Settings


def main() -> None:
    base = Settings()
    with tempfile.TemporaryDirectory(prefix="sourcechat-bench-") as tmp:
        settings = base.model_copy(update={"sources_dir": Path(tmp) / "sources", "index_dir": Path(tmp) / "index"})
        shutil.copytree(base.sources_dir, settings.sources_dir)
        from ingest import run_ingest

        started = time.perf_counter()
        first = run_ingest(settings)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        run_ingest(settings)
        repeat_s = time.perf_counter() - started

        from rag import Assistant

        assistant = Assistant(settings)
        assistant.warm_up()
        questions = load_questions(Path("eval/dev.jsonl"))
        from sourcechat.store import embeddings, open_collection

        model, collection = embeddings(settings), open_collection(settings)
        latencies, bare = [], []
        for q in questions:  # ask and its floor (embed the question + Chroma top-10), side by side
            started = time.perf_counter()
            assistant.ask(q["question"])
            latencies.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            collection.query(query_embeddings=[model.embed_query(q["question"])], n_results=10)
            bare.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        print(json.dumps({
            "ingest_first_s": round(first_s, 2), "ingest_first_chunks": first.chunks,
            "ingest_repeat_s": round(repeat_s, 3),
            "ask_p50_ms": round(statistics.median(latencies), 1),
            "ask_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            "bare_p50_ms": round(statistics.median(bare), 1),
            "ask_over_bare_p50": round(statistics.median(latencies) / statistics.median(bare), 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }, indent=1))


if __name__ == "__main__":
    main()
