"""Turn an article's Markdown into HTML that is safe to show on the public help centre.

Markdown passes raw HTML through, and article bodies come from imports and many editors,
so the HTML is sanitized against an allow-list afterwards and only then marked safe.
Heading ids come from the ``toc`` extension's default slugify, the same function the
chunker uses for its anchors, so ``/help/<slug>/#<anchor>`` lands on the cited section.
"""

import html
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor

EXTENSIONS = ["toc", "tables", "fenced_code", "sane_lists"]
EXTENSION_CONFIGS = {
    # An `align` attribute instead of inline styles, so no `style` needs allowing.
    "tables": {"use_align_attribute": True},
}

HEADING_TAGS = {"h2", "h3", "h4", "h5", "h6"}
TEXT_TAGS = {"p", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a", "hr", "br"}
TABLE_TAGS = {"table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_TAGS = HEADING_TAGS | TEXT_TAGS | TABLE_TAGS
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: {"id"} for tag in HEADING_TAGS},
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
}
# Relative URLs (help links, #anchors) are kept by nh3 regardless of scheme.
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
# Dropped together with their content rather than unwrapped into visible text.
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template", "textarea", "svg"}

# Bodies cite other articles as bare `/help/<slug>/` paths; a reader expects those to be links.
HELP_PATH_RE = r"(?<![\w/.:#?=&-])(/help/[a-z0-9][a-z0-9-]*/(?:#[a-z0-9_-]+)?)"


@dataclass(frozen=True)
class Section:
    """A top-level section of an article, for its table of contents."""

    anchor: str
    title: str


@dataclass(frozen=True)
class RenderedArticle:
    html: SafeString
    sections: list[Section] = field(default_factory=list)


class _HelpPathLinks(InlineProcessor):
    def handleMatch(self, m: re.Match, data: str) -> tuple[etree.Element, int, int]:  # noqa: N802 - Markdown API
        link = etree.Element("a")
        link.set("href", m.group(1))
        link.text = m.group(1)
        return link, m.start(0), m.end(0)


class _DemoteTitleHeadings(Treeprocessor):
    """The page's own <h1> is the article title, so a `#` heading in the body becomes an <h2>."""

    def run(self, root: etree.Element) -> None:
        for element in root.iter("h1"):
            element.tag = "h2"


class _HelpCentreExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - Markdown API
        # After links and autolinks (160, 120), so a path already inside a link is left alone.
        md.inlinePatterns.register(_HelpPathLinks(HELP_PATH_RE, md), "help_path_links", 105)
        # Below toc (5), so ids are assigned before the tag changes; the ids don't depend on it.
        md.treeprocessors.register(_DemoteTitleHeadings(md), "demote_title_headings", 4)


def html_sanitize(*, html_text: str) -> str:
    return nh3.clean(
        html_text,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _sections(tokens: list[dict]) -> list[Section]:
    sections: list[Section] = []
    for token in tokens:
        # `#` and `##` headings both render as <h2>; deeper levels nest inside them.
        if token["level"] <= 2:
            sections.append(Section(anchor=token["id"], title=html.unescape(token["name"])))
        if token["level"] < 2:
            sections.extend(_sections(token["children"]))
    return sections


def article_render(*, body: str) -> RenderedArticle:
    """Sanitized HTML of a Markdown body, with its top-level sections for a table of contents."""
    md = markdown.Markdown(
        extensions=[*EXTENSIONS, _HelpCentreExtension()], extension_configs=EXTENSION_CONFIGS, output_format="html"
    )
    cleaned = html_sanitize(html_text=md.convert(body))
    # Safe to mark: everything outside the allow-list has just been removed by nh3.
    return RenderedArticle(html=mark_safe(cleaned), sections=_sections(md.toc_tokens))  # noqa: S308


def article_render_html(*, body: str) -> SafeString:
    """Sanitized HTML of a Markdown article body, ready for a template without `|safe`."""
    return article_render(body=body).html


def article_excerpt(*, body: str, length: int = 250) -> str:
    """Plain text of a Markdown snippet, cut at a word near ``length`` characters; escape it when shown."""
    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
    rendered = md.convert(body)
    # Flattened to one line, a heading or list item would run into the next words; keep a separator.
    rendered = re.sub(r"</h[1-6]>", " — ", rendered)
    rendered = re.sub(r"(?<![.?!:;])</li>\s*(?=<li>)", "; ", rendered)
    text = html.unescape(nh3.clean(rendered, tags=set(), clean_content_tags=DROPPED_WITH_CONTENT))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= length:
        return text.rstrip(" —")
    cut = text[:length].rsplit(" ", 1)[0].rstrip(" ,;:.—–-")
    return f"{cut}…"
