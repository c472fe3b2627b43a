import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge.importing import kb_export, kb_import, kb_rows_read
from knowledge.models import Article, ArticleChunk, Category
from knowledge.services import article_index
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def write_markdown(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_markdown_folder_import_is_idempotent_and_updates_changes(tmp_path):
    write_markdown(tmp_path, "en/returns.md", "---\ntitle: Returns\ncategory: returns\ntags: a, b\n---\nBody one.")
    write_markdown(tmp_path, "cs/vraceni.md", "---\ntitle: Vrácení\ncategory: returns\n---\nTělo.")
    out, _ = run("kb_import", str(tmp_path))
    assert "2 created, 0 updated, 0 unchanged, 0 skipped" in out
    article = Article.objects.get(external_id="md:en/returns")
    assert (article.slug, article.locale, article.tags, article.status) == ("returns", "en", ["a", "b"], "published")
    assert Article.objects.get(external_id="md:cs/vraceni").locale == "cs"
    assert Category.objects.filter(slug="returns").count() == 1

    out, _ = run("kb_import", str(tmp_path))
    assert "0 created, 0 updated, 2 unchanged" in out

    write_markdown(tmp_path, "en/returns.md", "---\ntitle: Returns\ncategory: returns\ntags: a, b\n---\nBody two.")
    out, _ = run("kb_import", str(tmp_path))
    assert "0 created, 1 updated, 1 unchanged" in out
    assert Article.objects.get(external_id="md:en/returns").body == "Body two."
    assert Article.objects.count() == 2


def test_csv_bad_rows_are_reported_by_line_and_the_rest_imported(tmp_path):
    path = tmp_path / "kb.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "body", "locale", "category"])
        writer.writerow(["a1", "Shipping", "Ships in 3 days.", "en", "shipping"])
        writer.writerow(["a2", "", "No title here.", "en", "shipping"])
        writer.writerow(["a3", "Klingon", "Body.", "tlh", "shipping"])
        writer.writerow(["a4", "Doprava", "Doručíme do 3 dnů.", "cs", "shipping"])
        writer.writerow(["a5", "Extra", "Body.", "en", "shipping", "surplus"])
    out, err = run("kb_import", str(path))
    assert "2 created, 0 updated, 0 unchanged, 3 skipped" in out
    assert "skipped kb.csv line 3: missing title" in err
    assert "skipped kb.csv line 4: unknown locale 'tlh'" in err
    assert "skipped kb.csv line 6: more values than header columns" in err
    assert set(Article.objects.values_list("external_id", flat=True)) == {"a1", "a4"}


def test_jsonl_bad_lines_are_reported_and_skipped(tmp_path):
    path = tmp_path / "kb.jsonl"
    lines = [
        json.dumps({"id": "j1", "title": "Refunds", "body": "Five days.", "locale": "en", "category": "billing"}),
        "{broken json",
        json.dumps(["not", "an", "object"]),
        "",
        json.dumps({"id": "j2", "title": "Draft", "body": "Later.", "status": "archived"}),
        json.dumps({"id": "j3", "title": "Invoices", "body": "In your account.", "tags": ["vat", "invoice"]}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, err = run("kb_import", str(path))
    assert "2 created, 0 updated, 0 unchanged, 3 skipped" in out
    assert "kb.jsonl line 2: invalid JSON" in err
    assert "kb.jsonl line 3: expected an object" in err
    assert "kb.jsonl line 5: unknown status 'archived'" in err
    assert Article.objects.get(external_id="j3").tags == ["vat", "invoice"]


def test_markdown_without_front_matter_is_reported(tmp_path):
    write_markdown(tmp_path, "en/good.md", "---\ntitle: Good\n---\nBody.")
    write_markdown(tmp_path, "en/bad.md", "Just text, no front matter.")
    out, err = run("kb_import", str(tmp_path))
    assert "1 created" in out and "1 skipped" in out
    assert "skipped en/bad.md" in err


def test_unreadable_sources_fail_clearly(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run("kb_import", str(tmp_path / "missing.csv"))
    other = tmp_path / "kb.xml"
    other.write_text("<kb/>")
    with pytest.raises(CommandError, match="expected a folder"):
        run("kb_import", str(other))
    headerless = tmp_path / "kb.csv"
    headerless.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="header must name"):
        run("kb_import", str(headerless))


def test_slug_clash_with_another_article_gets_a_suffix(tmp_path):
    ArticleFactory(slug="shipping", locale="en", external_id="other")
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps({"id": "x1", "title": "Shipping", "body": "B."}) + "\n")
    run("kb_import", str(path))
    assert Article.objects.get(external_id="x1").slug == "shipping-2"


def test_import_adopts_a_hand_written_article_at_the_same_slug(tmp_path):
    hand_written = ArticleFactory(slug="returns", locale="en", external_id="")
    write_markdown(tmp_path, "en/returns.md", "---\ntitle: Returns\n---\nNew body.")
    run("kb_import", str(tmp_path))
    hand_written.refresh_from_db()
    assert (hand_written.external_id, hand_written.body) == ("md:en/returns", "New body.")
    assert Article.objects.count() == 1


@pytest.mark.parametrize(("fmt", "name"), [("md", "out"), ("csv", "out.csv"), ("jsonl", "out.jsonl")])
def test_export_then_import_round_trips(tmp_path, fmt, name):
    ArticleFactory(
        external_id="e1", title="Ship, fast", body='## A\nQuotes " and, commas.\n\nLine two.', tags=["x", "y"]
    )
    ArticleFactory(
        external_id="e2", title="Reklamace", body="## Lhůty\n30 dní.", locale="cs", status="draft", published_at=None
    )
    target = tmp_path / name
    assert kb_export(path=target, fmt=fmt) == 2
    before = list(Article.objects.order_by("locale").values_list("title", "body", "locale", "status", "tags"))
    report = kb_import(rows=kb_rows_read(path=target))
    assert (report.created, report.updated, report.skipped) == (0, 0, 0)
    assert report.unchanged == 2
    Article.objects.all().delete()
    report = kb_import(rows=kb_rows_read(path=target))
    assert report.created == 2
    after = list(Article.objects.order_by("locale").values_list("title", "body", "locale", "status", "tags"))
    assert after == before


def test_kb_reembed_rebuilds_stale_chunks_only(tmp_path):
    current = ArticleFactory(body="Current article.")
    stale = ArticleFactory(body="Stale article.")
    article_index(article=current)
    article_index(article=stale)
    Article.objects.filter(pk=stale.pk).update(indexed_hash="from-another-model")
    current_ids = set(current.chunks.values_list("pk", flat=True))
    out, _ = run("kb_reembed")
    assert "Re-embedded 1 articles" in out
    assert set(current.chunks.values_list("pk", flat=True)) == current_ids
    out, _ = run("kb_reembed", "--all")
    assert "Re-embedded 2 articles" in out
    assert ArticleChunk.objects.count() == 2
