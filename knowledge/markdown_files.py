"""Parse an article stored as a Markdown file with a small front-matter block.

```
---
title: How to track your order
category: shipping
tags: tracking, delivery
---
Body in Markdown…
```
"""

from dataclasses import dataclass

REQUIRED_FIELDS = ("title",)


class ArticleFileError(ValueError):
    pass


@dataclass(frozen=True)
class ArticleFile:
    slug: str
    locale: str
    title: str
    category: str
    tags: list[str]
    body: str
    meta: dict[str, str]


def article_file_parse(*, text: str, slug: str, locale: str) -> ArticleFile:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleFileError(f"{slug}: the file must start with a '---' front-matter block")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ArticleFileError(f"{slug}: the front-matter block is not closed with '---'") from None
    meta: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ArticleFileError(f"{slug}: line {number} is not 'key: value'")
        meta[key.strip().lower()] = value.strip()
    missing = [f for f in REQUIRED_FIELDS if not meta.get(f)]
    if missing:
        raise ArticleFileError(f"{slug}: missing {', '.join(missing)} in front matter")
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise ArticleFileError(f"{slug}: the article has no body")
    tags = [t.strip() for t in meta.get("tags", "").split(",") if t.strip()]
    return ArticleFile(
        slug=slug,
        locale=locale,
        title=meta["title"],
        category=meta.get("category", ""),
        tags=tags,
        body=body,
        meta=meta,
    )
