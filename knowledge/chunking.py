"""Split a Markdown article into citable chunks that follow its heading structure.

Sections (a heading and its blocks) are the unit: each chunk starts at a section,
keeps that section's heading path ("Returns > Labels") and the anchor the help page
gives the heading, so a citation links to ``/help/<slug>/#<anchor>``. A section
smaller than ``min_tokens`` joins its neighbour when both fit in ``max_tokens``; long ones are
split between blocks (paragraphs, whole lists, code fences) with one block of overlap,
and a block longer than ``max_tokens`` is split between sentences.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from markdown.extensions.toc import slugify, unique

MIN_TOKENS = 200
MAX_TOKENS = 400
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LIST_RE = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")

TokenCounter = Callable[[str], int]


def token_estimate(text: str) -> int:
    """About four characters a token; used when no tokenizer is at hand."""
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
    level: int
    path: list[str]
    anchor: str
    blocks: list[str] = field(default_factory=list)

    @property
    def heading_line(self) -> str:
        return f"{'#' * self.level} {self.path[-1]}" if self.path else ""


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
    sections: list[_Section] = [_Section(level=0, path=[], anchor="")]
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
            sections.append(_Section(level=level, path=[t for _, t in path], anchor=anchor))
            lines_by_section.append([])
        else:
            lines_by_section[-1].append(line)
    for section, lines in zip(sections, lines_by_section, strict=True):
        section.blocks = _blocks(lines)
    return [s for s in sections if s.blocks]


def _fit_block(block: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Split a block that alone exceeds the budget between sentences (or words, as a last resort)."""
    if count(block) <= max_tokens:
        return [block]
    pieces: list[str] = []
    current = ""
    units = SENTENCE_END_RE.split(block)
    if len(units) == 1:
        units = block.split(" ")
    for unit in units:
        candidate = f"{current} {unit}".strip()
        if current and count(candidate) > max_tokens:
            pieces.append(current)
            current = unit
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def _split_blocks(blocks: list[str], max_tokens: int, count: TokenCounter) -> list[list[str]]:
    fitted = [piece for block in blocks for piece in _fit_block(block, max_tokens, count)]
    groups: list[list[str]] = []
    current: list[str] = []
    for block in fitted:
        if current and count("\n\n".join([*current, block])) > max_tokens:
            groups.append(current)
            # Carry the last block over so a fact split across a boundary stays findable.
            current = [current[-1]] if count(f"{current[-1]}\n\n{block}") <= max_tokens else []
        current.append(block)
    if current:
        groups.append(current)
    return groups


def article_chunks(
    *,
    title: str,
    body: str,
    count_tokens: TokenCounter = token_estimate,
    min_tokens: int = MIN_TOKENS,
    max_tokens: int = MAX_TOKENS,
) -> list[Chunk]:
    pieces: list[tuple[_Section, str]] = []
    for section in _sections(body):
        for group in _split_blocks(section.blocks, max_tokens, count_tokens):
            pieces.append((section, "\n\n".join(group)))

    chunks: list[Chunk] = []
    merged_text = ""
    first: _Section | None = None
    for section, text in pieces:
        if first is not None:
            candidate = f"{merged_text}\n\n{section.heading_line}\n{text}" if section is not first else ""
            small = count_tokens(merged_text) < min_tokens or count_tokens(text) < min_tokens
            if section is not first and small and count_tokens(candidate) <= max_tokens:
                merged_text = candidate
                continue
            chunks.append(_chunk(len(chunks), first, merged_text, title, count_tokens))
        first, merged_text = section, text
    if first is not None:
        chunks.append(_chunk(len(chunks), first, merged_text, title, count_tokens))
    return chunks


def _chunk(ordinal: int, section: _Section, text: str, title: str, count: TokenCounter) -> Chunk:
    return Chunk(
        ordinal=ordinal,
        text=text,
        heading=" > ".join(section.path) if section.path else title,
        anchor=section.anchor,
        token_count=count(text),
    )
