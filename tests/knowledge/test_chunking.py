from knowledge.chunking import MAX_TOKENS, MIN_TOKENS, article_chunks, token_estimate

BODY = """Intro paragraph about returns.

## Returning an item
You have 30 days from delivery.

1. Open your orders.
2. Choose Return.

### Printing the label
Print the label at home.

## Refunds
Refunds arrive within 5 business days.
"""


def test_chunks_follow_headings_with_paths_and_anchors():
    chunks = article_chunks(title="Returns", body=BODY, min_tokens=0)
    assert [(c.heading, c.anchor) for c in chunks] == [
        ("Returns", ""),
        ("Returning an item", "returning-an-item"),
        ("Returning an item > Printing the label", "printing-the-label"),
        ("Refunds", "refunds"),
    ]
    assert chunks[1].text == "You have 30 days from delivery.\n\n1. Open your orders.\n2. Choose Return."
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]


def test_repeated_headings_get_unique_anchors_like_the_help_page():
    body = "## Steps\nOne.\n\n## Steps\nTwo."
    assert [c.anchor for c in article_chunks(title="T", body=body, min_tokens=0)] == ["steps", "steps_1"]


def test_czech_headings_get_ascii_anchors():
    chunks = article_chunks(
        title="Reklamace", body="## Jak podat reklamaci\nText.\n\n## Lhůty vyřízení\nText.", min_tokens=0
    )
    assert [c.anchor for c in chunks] == ["jak-podat-reklamaci", "lhuty-vyrizeni"]


def test_long_section_is_split_with_one_block_of_overlap():
    paragraphs = [f"Paragraph {i} " + "word " * 120 for i in range(6)]
    chunks = article_chunks(title="Long", body="## Big\n" + "\n\n".join(paragraphs))
    assert len(chunks) > 1
    assert all(c.token_count <= MAX_TOKENS for c in chunks)
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert following.text.split("\n\n")[0] == previous.text.split("\n\n")[-1]
    assert {c.anchor for c in chunks} == {"big"}


def test_headings_inside_code_fences_are_not_sections():
    body = "## Real\nText.\n\n```\n## not a heading\n```"
    chunks = article_chunks(title="T", body=body)
    assert len(chunks) == 1
    assert "## not a heading" in chunks[0].text


def test_token_estimate_grows_with_text():
    assert token_estimate("a" * 400) == 100
    assert token_estimate("") == 1


def test_small_sections_merge_into_one_chunk_that_cites_the_first():
    chunks = article_chunks(title="Returns", body=BODY)
    assert len(chunks) == 1
    chunk = chunks[0]
    assert (chunk.heading, chunk.anchor) == ("Returns", "")
    # Later sections keep their headings inside the text.
    assert "## Refunds\nRefunds arrive within 5 business days." in chunk.text
    assert "### Printing the label" in chunk.text


def test_merging_stops_once_a_chunk_is_big_enough():
    section = "Sentence about shipping times and carriers. " * 25  # about 275 tokens by estimate
    body = f"## One\n{section}\n\n## Two\n{section}\n\n## Three\nShort."
    chunks = article_chunks(title="T", body=body)
    assert [c.anchor for c in chunks] == ["one", "two"]
    assert all(MIN_TOKENS <= c.token_count <= MAX_TOKENS for c in chunks)
    # A small trailing section joins the chunk before it.
    assert chunks[1].text.endswith("## Three\nShort.")


def test_an_oversized_paragraph_is_split_between_sentences():
    paragraph = " ".join(f"Sentence number {i} talks about refunds." for i in range(200))
    chunks = article_chunks(title="T", body=paragraph)
    assert len(chunks) > 1
    assert all(c.token_count <= MAX_TOKENS for c in chunks)
    assert all(c.text.rstrip().endswith(".") for c in chunks)
    assert "Sentence number 199 talks about refunds." in chunks[-1].text


def test_a_real_tokenizer_can_be_plugged_in():
    words = "alpha " * 300

    def count_words(text: str) -> int:
        return len(text.split())

    chunks = article_chunks(title="T", body=f"## A\n{words}", count_tokens=count_words, max_tokens=100)
    assert all(count_words(c.text) <= 100 for c in chunks)
    assert sum(count_words(c.text) for c in chunks) == 300
