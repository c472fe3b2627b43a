"""Sentiment on the public sets in ../shared/eval-data/sentiment/, per language and per set.

For every set it prints, on the set's test split (or its validation/dev split; a set published
with a train split only is cut 80/20, stratified, seed 0, and measured on the 20 %):

- accuracy and macro-F1 of the copilot's sentiment step (``sentiment_analyze``), its five
  readings folded to the set's labels: positive, neutral, and negative for negative, frustrated
  and angry (on the complaints set: complaint for negative, frustrated and angry);
- anger recall where the set labels anger (``en_tweeteval_emotion``): the share of the messages
  labelled anger that the step reads as frustrated or angry;
- beside it, on the same rows, two baselines: always the train split's most frequent label, and
  TF-IDF (word 1-2-grams + char_wb 2-5-grams) + logistic regression trained on the set's own
  train split (at most --train-limit rows, stratified, seed 0).

Targets (issue 18): on each language's test split the step beats the TF-IDF baseline's
macro-F1; on the airline tweets kept back from the project, accuracy >= 0.75.

These sets are for measurement only: nothing that ships may be trained on them
(../shared/eval-data/sentiment/README.md).

    .venv/bin/python bench/sentiment_eval.py [--limit N] [--train-limit N] [--no-baseline] [--only NAME]
"""

import argparse
import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline, make_union

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.scratch import SHARED  # noqa: E402
from copilot.analysis.sentiment import sentiment_analyze  # noqa: E402

SENTIMENT = SHARED / "sentiment"
TARGET_AIRLINE_ACCURACY = 0.75
NEGATIVE_READINGS = {"negative", "frustrated", "angry"}
ANGER_READINGS = {"frustrated", "angry"}


@dataclass
class Split:
    name: str
    language: str
    train: list[dict]
    test: list[dict]
    test_name: str


def rows_read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("text", "").strip() and row.get("label")]


def splits_find(only: str = "") -> list[Split]:
    found = []
    for folder in sorted(p for p in SENTIMENT.iterdir() if p.is_dir()):
        if only and only not in folder.name:
            continue
        language = folder.name.split("_", 1)[0]
        files = {path.stem: path for path in folder.glob("*.csv")}
        test_name = next((name for name in ("test", "validation", "dev") if name in files), None)
        if "train" in files and test_name:
            train, test = rows_read(files["train"]), rows_read(files[test_name])
        elif "train" in files:
            rows = rows_read(files["train"])
            train, test = train_test_split(rows, test_size=0.2, stratify=[r["label"] for r in rows], random_state=0)
            test_name = "20 % of train"
        elif test_name:
            # Only a dev split: the baseline is trained on 80 % of it and both are measured on the rest.
            rows = rows_read(files[test_name])
            train, test = train_test_split(rows, test_size=0.2, stratify=[r["label"] for r in rows], random_state=0)
            test_name = f"20 % of {test_name}"
        else:
            continue
        found.append(Split(folder.name, language, train, test, test_name))
    return found


def ours_fold(reading: str, labels: set[str]) -> str:
    """The step's reading in the set's own labels."""
    if "complaint" in labels:
        return "complaint" if reading in NEGATIVE_READINGS else "not_complaint"
    return "negative" if reading in NEGATIVE_READINGS else reading


def baseline_fit(train: list[dict], limit: int):
    if len(train) > limit:
        train, _ = train_test_split(train, train_size=limit, stratify=[r["label"] for r in train], random_state=0)
    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(max_iter=2000, C=4.0),
    )
    model.fit([r["text"] for r in train], [r["label"] for r in train])
    return model


def scores(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    return accuracy_score(truth, predicted), f1_score(truth, predicted, average="macro")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="measure on at most N test rows per set (stratified)")
    parser.add_argument("--train-limit", type=int, default=20000, help="baseline trained on at most N rows")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--only", default="", help="only the sets whose folder name contains this")
    args = parser.parse_args()

    header = f"{'set':<28} {'lang':<4} {'split':<16} {'rows':>6}  {'ours acc/F1':>13}  {'TF-IDF acc/F1':>13}"
    print(f"{header}  {'majority acc/F1':>15}  anger recall (ours)  ms/msg")
    beaten: dict[str, list[bool]] = {}
    for split in splits_find(args.only):
        test = split.test
        if args.limit and len(test) > args.limit:
            test, _ = train_test_split(test, train_size=args.limit, stratify=[r["label"] for r in test], random_state=0)
        labels = {r["label"] for r in split.train} | {r["label"] for r in test}
        truth = [r["label"] for r in test]
        started = time.perf_counter()
        readings = [sentiment_analyze(text=r["text"], language=split.language).sentiment for r in test]
        per_message_ms = (time.perf_counter() - started) * 1000 / len(test)
        ours = [ours_fold(reading, labels) for reading in readings]
        ours_acc, ours_f1 = scores(truth, ours)

        majority = Counter(r["label"] for r in split.train).most_common(1)[0][0]
        majority_acc, majority_f1 = scores(truth, [majority] * len(truth))

        baseline = "—"
        if not args.no_baseline:
            model = baseline_fit(split.train, args.train_limit)
            base_acc, base_f1 = scores(truth, list(model.predict([r["text"] for r in test])))
            baseline = f"{base_acc:.3f}/{base_f1:.3f}"
            beaten.setdefault(split.language, []).append(ours_f1 > base_f1)

        anger = "—"
        angry_rows = [i for i, r in enumerate(test) if r.get("original_label") == "anger"]
        if angry_rows:
            caught = sum(readings[i] in ANGER_READINGS for i in angry_rows)
            anger = f"{caught / len(angry_rows):.3f} ({caught}/{len(angry_rows)})"
        print(
            f"{split.name:<28} {split.language:<4} {split.test_name:<16} {len(test):>6}  "
            f"{ours_acc:.3f}/{ours_f1:.3f}    {baseline:>13}  {majority_acc:.3f}/{majority_f1:.3f}      "
            f"{anger:<19}  {per_message_ms:.2f}"
        )
    if beaten:
        print()
        for language, wins in sorted(beaten.items()):
            verdict = "met" if all(wins) else "NOT met"
            print(
                f"target {language}: ours beats the TF-IDF baseline's macro-F1 on every set: "
                f"{sum(wins)}/{len(wins)} sets, {verdict}"
            )
    print(f"target: accuracy >= {TARGET_AIRLINE_ACCURACY} on the airline tweets kept back from the project")
    distribution = ", ".join(f"{language}: {len(wins)} sets" for language, wins in sorted(beaten.items()))
    if distribution:
        print(f"(sets per language: {distribution})")


if __name__ == "__main__":
    main()
