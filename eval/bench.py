"""Benchmarks: ingest seconds (first run and unchanged re-run) and warm `ask` latency, on a private
copy of the sources folder, and four chats at once against asking in sequence. Targets live here, not in
timed tests. Run: `make bench`.

`python -m eval.bench --scale N` (`make bench-scale`): a collection of N articles (the real ones plus
synthetic copies, eval/synth.py) and the issue-11 ratios, each measured side by side in one process that
only serves the collection (built by its parent): warm ask ÷ bare, first-time ask ÷ bare, one article added →
next answer, RSS; and ingest ÷ raw encode."""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
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
            collection.query(query_embeddings=[model.embed_query(q["question"])], n_results=10)  # type: ignore[arg-type]
            bare.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        chats = four_chats(assistant, model, [q["question"] for q in questions])
        print(json.dumps({
            "ingest_first_s": round(first_s, 2), "ingest_first_chunks": first.chunks,
            "ingest_repeat_s": round(repeat_s, 3),
            "ask_p50_ms": round(statistics.median(latencies), 1),
            "ask_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            "bare_p50_ms": round(statistics.median(bare), 1),
            "ask_over_bare_p50": round(statistics.median(latencies) / statistics.median(bare), 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            **chats,
        }, indent=1))


def four_chats(assistant, model, questions: list[str], chats: int = 4) -> dict[str, float]:
    """Issue 11's "no stalls with 4 chats at once": the same warm questions asked one after another, then by
    four threads at once (one Assistant, as the server shares it), and an embedding call timed alone and
    while the four run. A stall shows as the four taking much longer than the sequence in all; queueing
    shows as each ask waiting about four asks' time, the total unchanged."""
    import threading

    def embed_p50(n: int) -> float:
        times = []
        for i in range(n):
            started = time.perf_counter()
            model.embed_query(f"probe {i}: {questions[i % len(questions)]}")
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    idle = embed_p50(20)
    started = time.perf_counter()
    for q in questions:
        assistant.ask(q)
    sequential = time.perf_counter() - started
    each: list[float] = []

    def chat(mine: list[str]) -> None:
        for q in mine:
            t = time.perf_counter()
            assistant.ask(q)
            each.append((time.perf_counter() - t) * 1000)

    threads = [threading.Thread(target=chat, args=(questions[i::chats],)) for i in range(chats)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    busy = embed_p50(20)
    for t in threads:
        t.join()
    together = time.perf_counter() - started
    return {"four_chats_over_sequential": round(together / sequential, 2),
            "four_chats_ask_p50_ms": round(statistics.median(each), 1),
            "embed_p50_idle_ms": round(idle, 1), "embed_p50_during_four_chats_ms": round(busy, 1)}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else 0.0


def _bare(model, collection, question: str) -> float:
    """The floor: embed the question and ask Chroma for its top 10, nothing else."""
    started = time.perf_counter()
    collection.query(query_embeddings=[model.embed_query(question)], n_results=10)
    return (time.perf_counter() - started) * 1000


def _ingest_vs_encode(settings: Settings) -> dict:
    """Ingest of the real articles (model already loaded) against encoding the very same texts alone."""
    from ingest import run_ingest
    from ingest.chunk import chunk_article
    from ingest.load import parse_article
    from ingest.pipeline import EMBED_CALL_TEXTS, WORD_CALL_TEXTS, _embed_texts, _Pending, _sentence_texts, source_files
    from sourcechat.store import embeddings
    from sourcechat.text import paraphrase_words

    model = embeddings(settings)
    model.embed_query("load the model first")
    started = time.perf_counter()
    report = run_ingest(settings)
    ingest_s = time.perf_counter() - started
    texts: list[str] = []
    vocabulary: set[str] = set()
    for path in source_files(settings.sources_dir):
        article = parse_article(path.name, path.read_bytes())
        pending = _Pending(path, b"", article, chunk_article(article, settings.chunk_chars,
                                                             settings.chunk_overlap_sentences), "added")
        texts += _embed_texts(pending) + _sentence_texts(pending)
        vocabulary |= paraphrase_words(f"{article.title}\n{article.text}")
    word_list = sorted(vocabulary)
    started = time.perf_counter()  # the same texts ingest embeds: chunks, sentences, then the new words
    for i in range(0, len(texts), EMBED_CALL_TEXTS):
        model.embed_documents(texts[i:i + EMBED_CALL_TEXTS])
    for i in range(0, len(word_list), WORD_CALL_TEXTS):
        model.embed_documents(word_list[i:i + WORD_CALL_TEXTS])
    encode_s = time.perf_counter() - started
    return {"ingest_articles": report.added, "ingest_texts": len(texts), "ingest_words": len(word_list),
            "ingest_s": round(ingest_s, 2),
            "raw_encode_s": round(encode_s, 2), "ingest_over_encode_throughput": round(encode_s / ingest_s, 2)}


def scale(n_articles: int, n_questions: int) -> dict:
    """Build an N-article collection, then measure the issue's ratios on it, side by side, in a fresh
    process that only serves it (`serving_figures`), as `sourcechat serve` would after a restart: the
    builder's own memory (the model's encoding, the synthetic write, an earlier size) is not counted."""
    from eval.harness import ARTICLES_DIR
    from eval.synth import add_copies
    from sourcechat.store import open_collection

    base = Settings()
    out: dict = {"articles": n_articles}
    with tempfile.TemporaryDirectory(prefix="sourcechat-scale-") as tmp:
        settings = base.model_copy(update={"sources_dir": Path(tmp) / "sources", "index_dir": Path(tmp) / "index"})
        shutil.copytree(base.sources_dir, settings.sources_dir)
        for path in ARTICLES_DIR.iterdir():
            shutil.copy(path, settings.sources_dir / path.name)
        out.update(_ingest_vs_encode(settings))
        real = len(list(settings.sources_dir.iterdir()))
        started = time.perf_counter()
        add_copies(settings, max(0, n_articles - real))
        out["synthetic_write_s"] = round(time.perf_counter() - started, 1)
        out["chunks"] = open_collection(settings).count()
        child = subprocess.run([sys.executable, "-m", "eval.bench", "--serving", tmp, "--articles", str(n_articles),
                                "--questions", str(n_questions)], capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"the serving measurement failed: {child.stderr.strip()[-2000:]}")
        out.update(json.loads(child.stdout.strip().splitlines()[-1]))
        child = subprocess.run([sys.executable, "-m", "eval.bench", "--serving", tmp, "--restart",
                                "--questions", str(n_questions)], capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"the restart measurement failed: {child.stderr.strip()[-2000:]}")
        out.update(json.loads(child.stdout.strip().splitlines()[-1]))
        out["disk_mb"] = round(sum(p.stat().st_size for p in Path(tmp, "index").rglob("*") if p.is_file()) / 1e6)
    return out


def restart_figures(folder: Path, n_questions: int) -> dict:
    """A second fresh process on the same folder, as `sourcechat serve` after a restart: start-up from the
    view the first one saved, and its memory once the same questions are answered."""
    from rag import Assistant

    settings = Settings().model_copy(update={"sources_dir": folder / "sources", "index_dir": folder / "index"})
    started = time.perf_counter()
    assistant = Assistant(settings)
    assistant.warm_up()
    out: dict = {"restart_start_up_s": round(time.perf_counter() - started, 1)}
    for question in [q["question"] for q in load_questions(Path("eval/dev.jsonl"))][:n_questions]:
        assistant.ask(question)
    out["restart_rss_after_warm_mb"] = round(_rss_mb())
    return out


def serving_figures(folder: Path, n_articles: int, n_questions: int) -> dict:
    """In a process that has done nothing else: start-up, first-time / warm / bare question latency, RSS
    after warm-up, one article added → the next answer, full and restart view builds."""
    from eval.synth import add_copies
    from rag import Assistant
    from rag.index import CorpusIndex, load_snapshot
    from sourcechat.store import bump_generation, embeddings, open_collection

    settings = Settings().model_copy(update={"sources_dir": folder / "sources", "index_dir": folder / "index"})
    out: dict = {"rss_at_start_mb": round(_rss_mb())}
    started = time.perf_counter()
    assistant = Assistant(settings)
    assistant.warm_up()
    out["start_up_s"] = round(time.perf_counter() - started, 1)
    assistant.corpus.saved()  # the view is saved in the background: not while questions are timed
    collection, model = open_collection(settings), embeddings(settings)
    questions = [q["question"] for q in load_questions(Path("eval/dev.jsonl"))][:n_questions]
    first, warm, bare = [], [], []
    for question in questions:  # first-time, warm and bare, interleaved so load affects all three alike
        started = time.perf_counter()
        assistant.ask(question)
        first.append((time.perf_counter() - started) * 1000)
        bare.append(_bare(model, collection, question))
        started = time.perf_counter()
        assistant.ask(question)
        warm.append((time.perf_counter() - started) * 1000)
    floor = statistics.median(bare)
    out.update({
        "bare_p50_ms": round(floor, 1),
        "warm_p50_ms": round(statistics.median(warm), 1), "warm_p95_ms": round(_p(warm, 0.95), 1),
        "first_p50_ms": round(statistics.median(first), 1), "first_p95_ms": round(_p(first, 0.95), 1),
        "warm_over_bare": round(statistics.median(warm) / floor, 2),
        "first_over_bare": round(statistics.median(first) / floor, 2),
    })
    out["rss_after_warm_mb"] = round(_rss_mb())

    # one article added (as another process would: rows, then a generation bump) → the next answer
    before = assistant.corpus.snapshot()
    add_copies(settings, 1, start=n_articles + 1, bump=False)
    started = time.perf_counter()
    bump_generation(settings)  # this process follows: the incremental view is built and swapped in
    assistant.ask(questions[0])
    out["add_one_to_answer_s"] = round(time.perf_counter() - started, 2)
    assert assistant.corpus.snapshot() is not before
    started = time.perf_counter()
    load_snapshot(settings, saved_views=False)  # everything read from Chroma and tokenised again
    out["full_view_build_s"] = round(time.perf_counter() - started, 2)
    out["add_one_over_full_build"] = round(out["add_one_to_answer_s"] / out["full_view_build_s"], 2)
    started = time.perf_counter()
    load_snapshot(settings)  # a restart before the saved view: every article's saved data passed through again
    out["restart_view_s"] = round(time.perf_counter() - started, 2)
    out["restart_over_full_build"] = round(out["restart_view_s"] / out["full_view_build_s"], 2)
    assistant.corpus.saved()
    started = time.perf_counter()
    CorpusIndex(settings).snapshot()  # what a restart does now: the saved view (ViewCheckpoint), checked
    out["restart_saved_view_s"] = round(time.perf_counter() - started, 2)
    out["restart_saved_over_full_build"] = round(out["restart_saved_view_s"] / out["full_view_build_s"], 3)
    out["rss_mb"] = round(_rss_mb())
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


SCALE_COLUMNS = [  # (key in a scale() row, column heading)
    ("articles", "articles"), ("chunks", "chunks"), ("bare_p50_ms", "bare p50 ms"),
    ("warm_p50_ms", "warm p50 ms"), ("warm_p95_ms", "warm p95 ms"), ("warm_over_bare", "warm ÷ bare"),
    ("first_p50_ms", "first-time p50 ms"), ("first_p95_ms", "first-time p95 ms"),
    ("first_over_bare", "first-time ÷ bare"), ("add_one_to_answer_s", "add one → answer s"),
    ("full_view_build_s", "full view build s"), ("restart_view_s", "view from per-article files s"),
    ("restart_saved_view_s", "view at restart s"),
    ("start_up_s", "serve start-up s"), ("restart_start_up_s", "start-up after a restart s"),
    ("restart_rss_after_warm_mb", "RSS after a restart's warm-up MB"),
    ("rss_after_warm_mb", "RSS after warm-up MB"), ("peak_rss_mb", "peak RSS MB"), ("disk_mb", "disk MB"),
    ("ingest_over_encode_throughput", "ingest ÷ encode"),
]


def write_scale_report(rows: list[dict], out: Path) -> None:
    """scale.json, a Markdown table (one row per size) and scale.png: cost against collection size."""
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: r["articles"])
    (out / "scale.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    lines = ["| " + " | ".join(h for _, h in SCALE_COLUMNS) + " |", "|" + "---|" * len(SCALE_COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k, _ in SCALE_COLUMNS) + " |" for r in rows]
    (out / "scale.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["articles"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("bare_p50_ms", "bare floor p50"), ("warm_p50_ms", "warm ask p50"),
                       ("first_p50_ms", "first-time ask p50")):
        left.plot(sizes, [r[key] for r in rows], marker="o", label=label)
    left.set(xscale="log", yscale="log", xlabel="articles", ylabel="ms", title="question latency")
    left.legend()
    right.plot(sizes, [r["rss_after_warm_mb"] / 1024 for r in rows], marker="o", label="RSS after warm-up (GB)")
    right.plot(sizes, [r["full_view_build_s"] for r in rows], marker="o", label="full view build (s)")
    right.plot(sizes, [r["add_one_to_answer_s"] for r in rows], marker="o", label="add one → answer (s)")
    if all("restart_view_s" in r for r in rows):
        right.plot(sizes, [r["restart_view_s"] for r in rows], marker="o", label="view from per-article files (s)")
    if all("restart_saved_view_s" in r for r in rows):
        right.plot(sizes, [r["restart_saved_view_s"] for r in rows], marker="o", label="view at restart, saved (s)")
    right.set(xscale="log", yscale="log", xlabel="articles", title="memory and updates")
    right.legend()
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=110)
    plt.close(fig)


def cli() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, nargs="*", help="collection sizes in articles (e.g. 1000 10000)")
    parser.add_argument("--questions", type=int, default=60, help="dev questions asked per size")
    parser.add_argument("--out", type=Path, default=Path("eval/out"), help="where scale.md/.json/.png go")
    parser.add_argument("--big", action="store_true", help="add a 100,000-article collection to the sizes")
    parser.add_argument("--serving", type=Path, help=argparse.SUPPRESS)  # the child process of `scale`
    parser.add_argument("--articles", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--restart", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serving is not None and args.restart:
        print(json.dumps(restart_figures(args.serving, args.questions)), flush=True)
        return
    if args.serving is not None:
        print(json.dumps(serving_figures(args.serving, args.articles, args.questions)), flush=True)
        return
    if args.scale is None and not args.big:
        return main()
    rows = []
    for n in (args.scale or [1000]) + ([100_000] if args.big else []):
        rows.append(scale(n, args.questions))
        print(json.dumps(rows[-1]), flush=True)
        write_scale_report(rows, args.out)  # after every size, so a long run leaves what it measured
    print(f"wrote {args.out / 'scale.md'} and {args.out / 'scale.png'}")


if __name__ == "__main__":
    cli()
