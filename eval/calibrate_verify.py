"""Fit the support thresholds of rag/verify.py on the eval collection and the dev split.

What a model's cited sentence looks like when its citation is right, and when it is wrong:
  - right: a clause cut from the cited sentence (half to four fifths of its words), or a dev question's
    accepted short answer beside the sentence that states it;
  - wrong: the same claim beside the three sentences of the collection most similar to the right one
    (related evidence cited by mistake: the hard case) that do not contain the claim.
The grid search keeps thresholds whose false-support rate is at most `MAX_FALSE` and, of those, the one
that accepts the most right citations. It prints the figures; the constants live in rag/verify.py.
Run: `python -m eval.calibrate_verify`.
"""

from __future__ import annotations

import itertools
import json
import random

import numpy as np

from eval.harness import SPLITS, eval_settings
from rag.verify import lexical_support, normalise
from sourcechat.settings import Settings
from sourcechat.store import embeddings

MAX_FALSE = 0.03
GRID_LEXICAL = [0.5, 0.6, 0.67, 0.75, 0.8, 1.0]
GRID_SEMANTIC = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9]
GRID_FLOOR = [0.0, 0.2, 0.34, 0.5]


def collection_sentences(settings: Settings) -> list[str]:
    from rag.index import load_snapshot

    snap = load_snapshot(settings)
    return [" ".join(s.text.split()) for a in snap.articles.values() for s in a.sentences if len(s.text.split()) >= 5]


def claims(sentences: list[str], rng: random.Random) -> list[tuple[str, int]]:
    """(claim, index of the sentence that supports it): clauses, and dev's short answers."""
    out = []
    for i, s in enumerate(sentences):
        tokens = s.split()
        size = max(4, int(len(tokens) * rng.uniform(0.5, 0.8)))
        start = rng.randint(0, max(0, len(tokens) - size))
        out.append((" ".join(tokens[start:start + size]), i))
    folded = [normalise(s) for s in sentences]
    for line in SPLITS["dev"].read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        for answer in q.get("answers", [])[:1]:
            hits = [i for i, t in enumerate(folded) if f" {normalise(answer)} " in f" {t} "]
            if hits and len(normalise(answer)) > 2:
                out.append((answer, hits[0]))
    return out


def main() -> None:
    settings = eval_settings(Settings())
    sentences = collection_sentences(settings)
    rng = random.Random(7)
    model = embeddings(settings)
    vectors = np.asarray(model.embed_documents(sentences), dtype=np.float32)
    pairs = claims(sentences, rng)
    claim_vectors = np.asarray(model.embed_documents([c for c, _ in pairs]), dtype=np.float32)
    rows = []  # (lexical, semantic, right)
    for (claim, i), cv in zip(pairs, claim_vectors):
        rows.append((lexical_support(claim, sentences[i]), float(vectors[i] @ cv), True))
        similar = np.argsort(-(vectors @ vectors[i]))
        wrong = [j for j in similar if j != i and normalise(claim) not in normalise(sentences[j])][:3]
        rows += [(lexical_support(claim, sentences[j]), float(vectors[j] @ cv), False) for j in wrong]
    right = [r for r in rows if r[2]]
    wrong = [r for r in rows if not r[2]]
    best = None
    for lex, sem, floor in itertools.product(GRID_LEXICAL, GRID_SEMANTIC, GRID_FLOOR):
        def accepts(r):
            return r[0] >= lex or (r[1] >= sem and r[0] >= floor)
        tpr = sum(map(accepts, right)) / len(right)
        fpr = sum(map(accepts, wrong)) / len(wrong)
        if fpr <= MAX_FALSE and (best is None or tpr > best[0]):
            best = (tpr, fpr, lex, sem, floor)
    print(f"{len(right)} right and {len(wrong)} wrong citations from {len(sentences)} sentences")
    print("best (right accepted, wrong accepted, LEXICAL_SUPPORT, SEMANTIC_SUPPORT, LEXICAL_FLOOR):", best)


if __name__ == "__main__":
    main()
