"""What collapsing near-duplicate chunks costs: warm `ask` time with and without it, on the clean sources
and on the sources plus N lightly edited copies of the song article, as ratios (the machine's load moves
absolute times 2-3x; ratios measured in one process, interleaved, hold better).

Run: `python -m eval.bench_dedupe [--copies 100] [--dir DIR]` (DIR keeps the built collections between runs).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from eval.harness import load_questions
from sourcechat.settings import Settings

WIKI = "001_ac7605141e2d40cd.txt"


def edited_copies(text: str, n: int, seed: int = 7) -> list[str]:
    """n copies of an article, each with one word (a different one per copy) replaced by `edit<i>`."""
    rng = random.Random(seed)
    tokens = text.split(" ")
    out = []
    for i in range(n):
        edited = list(tokens)
        edited[rng.randrange(len(edited))] = f"edit{i}"
        out.append(" ".join(edited))
    return out


def plain(retriever, query, vector, k, threshold=0.0):
    """Retrieval as it was before: the fused top k, copies and all."""
    return retriever.retrieve(query, vector, k)


def build(base: Settings, root: Path, copies: int) -> Settings:
    from ingest import run_ingest

    settings = base.model_copy(update={"sources_dir": root / "sources", "index_dir": root / "index"})
    if not settings.sources_dir.is_dir():
        shutil.copytree(base.sources_dir, settings.sources_dir)
        for i, text in enumerate(edited_copies((base.sources_dir / WIKI).read_text(encoding="utf-8"), copies)):
            (settings.sources_dir / f"copy_{i:03d}.txt").write_text(text, encoding="utf-8")
    run_ingest(settings)
    return settings


def timed(settings: Settings, questions: list[str], rounds: int = 3) -> dict[str, float]:
    """Median seconds per question set, with and without the collapse, alternating rounds."""
    from rag import Assistant, chain

    collapse = chain.retrieve_distinct
    assistant = Assistant(settings)
    assistant.warm_up()
    seconds: dict[str, list[float]] = {"plain": [], "dedupe": []}
    try:
        for _ in range(rounds):
            for label, fn in (("plain", plain), ("dedupe", collapse)):
                chain.retrieve_distinct = fn
                assistant.chain = assistant.build_chain()
                started = time.perf_counter()
                for q in questions:
                    assistant.ask(q)
                seconds[label].append(time.perf_counter() - started)
    finally:
        chain.retrieve_distinct = collapse
    return {label: statistics.median(v) for label, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--questions", type=int, default=40, help="the first N questions of eval/dev.jsonl")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    questions = [q["question"] for q in load_questions(Path("eval/dev.jsonl"))][:args.questions]
    root = args.dir or Path(tempfile.mkdtemp(prefix="sourcechat-dedupe-"))
    base = Settings()
    out = {}
    for label, copies in (("clean", 0), (f"{args.copies} copies", args.copies)):
        settings = build(base, root / label.replace(" ", "-"), copies)
        t = timed(settings, questions)
        out[label] = {"plain_s": round(t["plain"], 3), "dedupe_s": round(t["dedupe"], 3),
                      "ratio": round(t["dedupe"] / t["plain"], 3)}
    print(json.dumps(out, indent=2))
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
