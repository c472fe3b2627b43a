"""Import and export the knowledge base as Markdown folders, CSV or JSONL.

Every format carries the same fields: ``id`` (the external id imports upsert by),
``title``, ``body`` (Markdown), ``locale``, ``category`` and optionally ``slug``,
``tags`` and ``status``. Bad rows are reported with their file or line and skipped;
the rest is imported, each row in its own transaction.
"""

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from knowledge.markdown_files import ArticleFileError, article_file_parse
from knowledge.models import Article, Category
from knowledge.services import article_save, category_upsert

FORMATS = ("md", "csv", "jsonl")
FIELDS = ("id", "title", "body", "locale", "category", "slug", "tags", "status")
MAX_BODY_CHARS = 200_000


class ImportFormatError(ValueError):
    """The whole source is unreadable (missing, unknown format, no header)."""


@dataclass(frozen=True)
class ImportRow:
    where: str
    external_id: str
    title: str
    body: str
    locale: str
    category: str
    slug: str = ""
    tags: tuple[str, ...] = ()
    status: str = Article.Status.PUBLISHED


@dataclass(frozen=True)
class ImportProblem:
    where: str
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)


def _tags(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(t).strip() for t in value if str(t).strip())
    return tuple(t.strip() for t in str(value or "").split(",") if t.strip())


def _row_from_mapping(data: dict, *, where: str) -> ImportRow | ImportProblem:
    if not isinstance(data, dict):
        return ImportProblem(where, "expected an object with id, title, body, locale, category")
    missing = [name for name in ("id", "title", "body") if not str(data.get(name) or "").strip()]
    if missing:
        return ImportProblem(where, f"missing {', '.join(missing)}")
    return ImportRow(
        where=where,
        external_id=str(data["id"]).strip(),
        title=str(data["title"]).strip(),
        body=str(data["body"]).strip(),
        locale=str(data.get("locale") or "en").strip().lower(),
        category=str(data.get("category") or "").strip(),
        slug=str(data.get("slug") or "").strip(),
        tags=_tags(data.get("tags")),
        status=str(data.get("status") or Article.Status.PUBLISHED).strip().lower(),
    )


def _read_markdown(root: Path) -> Iterator[ImportRow | ImportProblem]:
    known_locales = {code for code, _ in settings.LANGUAGES}
    for path in sorted(root.rglob("*.md")):
        relative = path.relative_to(root)
        where = str(relative)
        # A folder named after a locale (en/, cs/) sets it unless the front matter does.
        folder_locale = relative.parts[0] if len(relative.parts) > 1 and relative.parts[0] in known_locales else "en"
        try:
            text = path.read_text(encoding="utf-8")
            parsed = article_file_parse(text=text, slug=path.stem, locale=folder_locale)
        except (UnicodeDecodeError, ArticleFileError) as exc:
            yield ImportProblem(where, str(exc))
            continue
        yield _row_from_mapping(
            {
                "id": parsed.meta.get("id") or f"md:{relative.with_suffix('').as_posix()}",
                "title": parsed.title,
                "body": parsed.body,
                "locale": parsed.meta.get("locale") or folder_locale,
                "category": parsed.category,
                "slug": parsed.meta.get("slug") or parsed.slug,
                "tags": list(parsed.tags),
                "status": parsed.meta.get("status"),
            },
            where=where,
        )


def _read_csv(path: Path) -> Iterator[ImportRow | ImportProblem]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"id", "title", "body"} <= set(reader.fieldnames):
            raise ImportFormatError(f"{path.name}: the header must name at least id, title and body")
        for data in reader:
            where = f"{path.name} line {reader.line_num}"
            if None in data:
                yield ImportProblem(where, "more values than header columns")
                continue
            yield _row_from_mapping(data, where=where)


def _read_jsonl(path: Path) -> Iterator[ImportRow | ImportProblem]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ImportProblem(where, f"invalid JSON: {exc.msg}")
                continue
            yield _row_from_mapping(data, where=where)


def kb_rows_read(*, path: Path) -> list[ImportRow | ImportProblem]:
    """Read every row of a Markdown folder, a .csv or a .jsonl file."""
    if path.is_dir():
        return list(_read_markdown(path))
    if not path.is_file():
        raise ImportFormatError(f"No such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return list(_read_csv(path))
    if suffix in (".jsonl", ".ndjson"):
        return list(_read_jsonl(path))
    raise ImportFormatError(f"{path.name}: expected a folder of .md files, a .csv or a .jsonl file")


def _validate(row: ImportRow) -> str | None:
    if row.locale not in {code for code, _ in settings.LANGUAGES}:
        return f"unknown locale {row.locale!r}"
    if row.status not in Article.Status.values:
        return f"unknown status {row.status!r} (expected draft or published)"
    if len(row.title) > 200:
        return "title longer than 200 characters"
    if len(row.body) > MAX_BODY_CHARS:
        return f"body longer than {MAX_BODY_CHARS} characters"
    if row.slug and slugify(row.slug) != row.slug:
        return f"slug {row.slug!r} must be lowercase letters, digits and hyphens"
    return None


def _category(name: str) -> Category | None:
    if not name:
        return None
    slug = slugify(name)[:64]
    existing = Category.objects.filter(slug=slug).first()
    return existing or category_upsert(slug=slug, name=name if name != slug else name.replace("-", " ").title())


def _free_slug(*, wanted: str, locale: str, article: Article) -> str:
    base = (wanted or slugify(article.title) or "article")[:110]
    slug, n = base, 1
    while Article.objects.filter(locale=locale, slug=slug).exclude(pk=article.pk).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _adoptable(row: ImportRow) -> Article | None:
    """An article written by hand (no external id) at the row's locale and slug takes on its id."""
    if not row.slug:
        return None
    return Article.objects.filter(locale=row.locale, slug=row.slug, external_id="").first()


def _is_unchanged(article: Article, row: ImportRow, category: Category | None) -> bool:
    return (
        article.title == row.title
        and article.body == row.body
        and article.locale == row.locale
        and article.category_id == (category.pk if category else None)
        and tuple(article.tags) == row.tags
        and article.status == row.status
        and article.external_id == row.external_id
        and (not row.slug or article.slug == row.slug)
    )


def kb_row_import(*, row: ImportRow) -> str:
    """Upsert one row by external id; returns 'created', 'updated' or 'unchanged'."""
    with transaction.atomic():
        category = _category(row.category)
        article = Article.objects.filter(external_id=row.external_id).first() or _adoptable(row)
        if article is not None and _is_unchanged(article, row, category):
            return "unchanged"
        outcome = "updated" if article else "created"
        article = article or Article()
        article.external_id = row.external_id
        article.title = row.title
        article.body = row.body
        article.locale = row.locale
        article.category = category
        article.tags = list(row.tags)
        article.status = row.status
        article.slug = _free_slug(wanted=row.slug or article.slug, locale=row.locale, article=article)
        article_save(article=article)
        return outcome


def kb_import(
    *, rows: list[ImportRow | ImportProblem], on_row: Callable[[ImportRow | ImportProblem], None] | None = None
) -> ImportReport:
    report = ImportReport()
    for row in rows:
        if isinstance(row, ImportProblem):
            report.problems.append(row)
        elif error := _validate(row):
            report.problems.append(ImportProblem(row.where, error))
        else:
            try:
                outcome = kb_row_import(row=row)
            except (IntegrityError, ValueError) as exc:
                report.problems.append(ImportProblem(row.where, f"not saved: {exc}"))
            else:
                setattr(report, outcome, getattr(report, outcome) + 1)
        if on_row:
            on_row(row)
    return report


def _export_record(article: Article) -> dict:
    return {
        "id": article.external_id or f"article:{article.pk}",
        "title": article.title,
        "body": article.body,
        "locale": article.locale,
        "category": article.category.slug if article.category else "",
        "slug": article.slug,
        "tags": list(article.tags),
        "status": article.status,
    }


def kb_export(*, path: Path, fmt: str) -> int:
    """Write every article to ``path`` in ``fmt``; returns how many were written."""
    if fmt not in FORMATS:
        raise ImportFormatError(f"Unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    records = [_export_record(a) for a in Article.objects.select_related("category").order_by("locale", "slug", "pk")]
    if fmt == "md":
        for record in records:
            folder = path / record["locale"]
            folder.mkdir(parents=True, exist_ok=True)
            front = "\n".join(
                f"{key}: {', '.join(record[key]) if key == 'tags' else record[key]}"
                for key in ("id", "title", "category", "tags", "status")
            )
            (folder / f"{record['slug']}.md").write_text(f"---\n{front}\n---\n{record['body']}\n", encoding="utf-8")
    elif fmt == "csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            for record in records:
                writer.writerow({**record, "tags": ", ".join(record["tags"])})
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)
