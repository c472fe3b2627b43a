"""Retrieval quality on StackFAQ, and the fit of the retrieval confidence.

Imports ../shared/eval-data/stackfaq/faq_docs.jsonl (125 FAQs) into a scratch knowledge
base through `manage.py kb_import`, runs its 1,249 paraphrased queries through the
production hybrid search and prints P@1, R@5 and MRR (targets: P@1 >= 0.80, MRR >= 0.87;
TF-IDF baseline P@1 0.663, R@5 0.906, MRR 0.766), with ablations of the fusion.

Then it fits knowledge/calibration.py: a logistic model of "the top hit is right" from
the top vector score and its margin, on the StackFAQ queries (positives where the top
hit is the gold FAQ) plus out-of-domain Banking77 questions (no answer exists in this
knowledge base, so every one is a negative).

    .venv/bin/python bench/retrieval_eval.py [--keep] [--reuse] [--ood 400]
"""

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.scratch import SHARED, scratch_attach, scratch_django, scratch_drop  # noqa: E402

DB_NAME = "bench_retrieval"
STACKFAQ = SHARED / "stackfaq"
BANKING = SHARED / "banking77" / "train.csv"


def faq_jsonl(target: Path) -> int:
    rows = [json.loads(line) for line in (STACKFAQ / "faq_docs.jsonl").read_text(encoding="utf-8").splitlines()]
    with target.open("w", encoding="utf-8") as handle:
        for row in rows:
            body = "\n\n".join(answer.strip() for answer in row["answers"] if answer.strip())
            record = {
                "id": f"stackfaq-{row['faq_id']}",
                "title": row["question"].strip(),
                "body": body,
                "locale": "en",
                "category": "stackfaq",
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(rows)


def ranked_faqs(hits, external_ids: dict[int, str]) -> list[int]:
    ranked: list[int] = []
    for hit in hits:
        faq = int(external_ids[hit.article_id].removeprefix("stackfaq-"))
        if faq not in ranked:
            ranked.append(faq)
    return ranked


def metrics(rankings: list[list[int]], gold: list[int]) -> dict[str, float]:
    p1 = sum(r[:1] == [g] for r, g in zip(rankings, gold, strict=True)) / len(gold)
    r5 = sum(g in r[:5] for r, g in zip(rankings, gold, strict=True)) / len(gold)
    mrr = sum(1 / (r.index(g) + 1) if g in r else 0 for r, g in zip(rankings, gold, strict=True)) / len(gold)
    return {"P@1": p1, "R@5": r5, "MRR": mrr}


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 200) -> np.ndarray:
    """Newton's method on the log-loss, with a little L2 to keep the weights finite."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + 1e-3 * w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-3 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch database for --reuse")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept scratch database (skip the import)")
    parser.add_argument("--ood", type=int, default=400, help="out-of-domain Banking77 questions for calibration")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.reuse:
        scratch_attach(DB_NAME)
    else:
        scratch_django(DB_NAME)
    from django.core.management import call_command

    from knowledge import calibration
    from knowledge.embeddings import embedder_get
    from knowledge.models import Article, ArticleChunk
    from knowledge.selectors import (
        RRF_K,
        TEXT_WEIGHT,
        TITLE_WEIGHT,
        search_candidates,
        search_confidence_features,
        search_fuse,
    )

    try:
        if not args.reuse:
            with tempfile.TemporaryDirectory() as tmp:
                source = Path(tmp) / "stackfaq.jsonl"
                count = faq_jsonl(source)
                print(f"Importing {count} StackFAQ articles through kb_import (embeds every chunk)...", flush=True)
                t0 = time.perf_counter()
                call_command("kb_import", str(source))
                took = time.perf_counter() - t0
                chunks = ArticleChunk.objects.count()
                print(f"  {chunks} chunks in {took:.0f} s ({chunks / took:.1f} chunks/s incl. titles)", flush=True)
        external_ids = dict(Article.objects.values_list("pk", "external_id"))

        queries = [json.loads(line) for line in (STACKFAQ / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
        banking = list(csv.DictReader(BANKING.open(encoding="utf-8")))
        ood = [row["text"] for row in random.Random(77).sample(banking, k=min(args.ood, len(banking)))]
        embedder = embedder_get()
        print(f"Embedding {len(queries)} queries and {len(ood)} out-of-domain questions...", flush=True)
        t0 = time.perf_counter()
        q_vectors = embedder.embed_queries([q["query"] for q in queries])
        ood_vectors = embedder.embed_queries(ood)
        print(f"  {(time.perf_counter() - t0) / (len(queries) + len(ood)) * 1000:.1f} ms per query", flush=True)

        t0 = time.perf_counter()
        candidates = [
            search_candidates(vector=v, query=q["query"], locales=["en"], category=None)
            for q, v in zip(queries, q_vectors, strict=True)
        ]
        sql_ms = (time.perf_counter() - t0) / len(queries) * 1000
        ood_candidates = [
            search_candidates(vector=v, query=text, locales=["en"], category=None)
            for text, v in zip(ood, ood_vectors, strict=True)
        ]
        gold = [q["faq_id"] for q in queries]

        print("\nRetrieval quality on StackFAQ (1,249 queries, 125 FAQs)")
        print(f"{'variant':44} {'P@1':>6} {'R@5':>6} {'MRR':>6}")
        print(f"{'TF-IDF baseline (from the dataset README)':44} {0.663:6.3f} {0.906:6.3f} {0.766:6.3f}")
        variants = [
            ("vector: chunks only", {"title_weight": 0.0, "text_weight": 0.0}),
            ("vector: chunks + title (0.5)", {"title_weight": 0.5, "text_weight": 0.0}),
            ("full text only", {"title_weight": 0.5, "text_weight": 1e6}),
            ("hybrid RRF, text weight 1.0", {"title_weight": 0.5, "text_weight": 1.0}),
            ("hybrid RRF, text weight 0.5", {"title_weight": 0.5, "text_weight": 0.5}),
            ("hybrid RRF, text weight 0.3", {"title_weight": 0.5, "text_weight": 0.3}),
            ("hybrid RRF, text weight 0.2", {"title_weight": 0.5, "text_weight": 0.2}),
            ("hybrid RRF, text weight 0.1", {"title_weight": 0.5, "text_weight": 0.1}),
            (f"production (title {TITLE_WEIGHT}, text {TEXT_WEIGHT}, k {RRF_K})", {}),
        ]
        results = {}
        for name, kwargs in variants:
            rankings = [ranked_faqs(search_fuse(rows, **kwargs), external_ids) for rows in candidates]
            results[name] = metrics(rankings, gold)
            m = results[name]
            print(f"{name:44} {m['P@1']:6.3f} {m['R@5']:6.3f} {m['MRR']:6.3f}")
        production = results[variants[-1][0]]
        verdict = "PASS" if production["P@1"] >= 0.80 and production["MRR"] >= 0.87 else "FAIL"
        print(f"Targets P@1 >= 0.80, MRR >= 0.87: {verdict}")
        print(f"Candidate SQL: {sql_ms:.1f} ms per query (mean)")

        # The same features and the same fused ranking the production confidence uses.
        features, labels = [], []
        for rows, g in zip(candidates, gold, strict=True):
            hits = search_fuse(rows)
            features.append(search_confidence_features(hits))
            labels.append(int(external_ids[hits[0].article_id] == f"stackfaq-{g}"))
        for rows in ood_candidates:
            features.append(search_confidence_features(search_fuse(rows)))
            labels.append(0)
        x, y = np.array(features), np.array(labels, dtype=float)
        w = fit_logistic(x, y)
        print("\nConfidence calibration (logistic on top vector score and margin)")
        print(f"  examples: {int(y.sum())} right top hits, {int(len(y) - y.sum())} wrong or out-of-domain")
        print(f"  fitted:  INTERCEPT = {w[0]:.2f}, TOP_WEIGHT = {w[1]:.2f}, MARGIN_WEIGHT = {w[2]:.2f}")
        print(
            f"  in use:  INTERCEPT = {calibration.INTERCEPT:.2f}, TOP_WEIGHT = {calibration.TOP_WEIGHT:.2f}, "
            f"MARGIN_WEIGHT = {calibration.MARGIN_WEIGHT:.2f}"
        )
        probs = np.array([calibration.confidence_from_scores(top=a, margin=b) for a, b in features])
        print("  reliability of the confidence in use (bin: mean predicted vs observed, n):")
        for lo in np.arange(0, 1, 0.2):
            mask = (probs >= lo) & (probs < lo + 0.2 + (1e-9 if lo >= 0.8 else 0))
            if mask.any():
                print(
                    f"    {lo:.1f}-{lo + 0.2:.1f}: {probs[mask].mean():.2f} vs {y[mask].mean():.2f}  (n={mask.sum()})"
                )
        in_domain = len(candidates)
        answered = probs[:in_domain] >= 0.5
        print(
            f"  at threshold 0.5: answers {answered.mean():.1%} of StackFAQ questions "
            f"({y[:in_domain][answered].mean():.1%} of those right), "
            f"refuses {np.mean(probs[in_domain:] < 0.5):.1%} of out-of-domain questions"
        )
        print(f"\nTotal {time.perf_counter() - started:.0f} s")
    finally:
        if not args.keep:
            scratch_drop(DB_NAME)


if __name__ == "__main__":
    main()
