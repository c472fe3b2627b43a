"""Split a Markdown article into citable chunks that follow its heading structure.

Each chunk belongs to one section, keeps its heading path ("Returns > Labels") and the
anchor the help page gives that heading, so a citation can link to
``/help/<slug>/#<anchor>``. Long sections are split between blocks (paragraphs, lists,
code) with one block of overlap.
"""

import re
from dataclasses import dataclass, field

from markdown.extensions.toc import slugify, unique

MAX_TOKENS = 400
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LIST_RE = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
FENCE_RE = re.compile(r"^\s*(```|~~~)")


def token_estimate(text: str) -> int:
    # About four characters per sub-word token for the e5 tokenizer on prose.
    return max(1, round(len(text) / 4))


@dataclass
class Chunk:
    ordinal: int
    text: str
    heading: str
    anchor: str
    token_count: int


@dataclass
class _Section:
    path: list[str]
    anchor: str
    blocks: list[str] = field(default_factory=list)


def _blocks(lines: list[str]) -> list[str]:
    """Group lines into paragraphs, whole lists and whole code fences."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in lines:
        if FENCE_RE.match(line):
            current.append(line)
            in_fence = not in_fence
            continue
        if in_fence:
            current.append(line)
            continue
        if not line.strip():
            if current:
                blocks.append("\n".join(current).strip())
                current = []
            continue
        # A list that follows a paragraph line without a blank line starts its own block.
        if current and LIST_RE.match(line) and not LIST_RE.match(current[-1]) and not current[-1].startswith(" "):
            blocks.append("\n".join(current).strip())
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current).strip())
    return [b for b in blocks if b]


def _sections(body: str) -> list[_Section]:
    sections: list[_Section] = [_Section(path=[], anchor="")]
    lines_by_section: list[list[str]] = [[]]
    path: list[tuple[int, str]] = []
    used_ids: set[str] = set()
    in_fence = False
    for line in body.splitlines():
        if FENCE_RE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING_RE.match(line)
        if match:
            level, title = len(match.group(1)), match.group(2).strip()
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            anchor = unique(slugify(title, "-"), used_ids)
            sections.append(_Section(path=[t for _, t in path], anchor=anchor))
            lines_by_section.append([])
        else:
            lines_by_section[-1].append(line)
    for section, lines in zip(sections, lines_by_section, strict=True):
        section.blocks = _blocks(lines)
    return [s for s in sections if s.blocks]


def _split_blocks(blocks: list[str], max_tokens: int) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for block in blocks:
        tokens = token_estimate(block)
        if current and size + tokens > max_tokens:
            groups.append(current)
            # Carry the last block over so a fact split across a boundary stays findable.
            current = [current[-1]]
            size = token_estimate(current[0])
            if size + tokens > max_tokens:
                current, size = [], 0
        current.append(block)
        size += tokens
    if current:
        groups.append(current)
    return groups


def article_chunks(*, title: str, body: str, max_tokens: int = MAX_TOKENS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in _sections(body):
        heading = " > ".join(section.path) if section.path else title
        for group in _split_blocks(section.blocks, max_tokens):
            text = "\n\n".join(group)
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    text=text,
                    heading=heading,
                    anchor=section.anchor,
                    token_count=token_estimate(text),
                )
            )
    return chunks
