"""Full-text queries for languages PostgreSQL has no text-search configuration for.

Czech falls back to the ``simple`` configuration: no stop words and no stemming, so
"jak" (how) matches every how-to title and "zásilku" misses "zásilka". For such
locales the query is built here: stop words dropped, and longer words matched by
prefix, which covers most Czech inflection (zásil:* matches zásilka, zásilku, zásilky).
"""

import re

WORD_RE = re.compile(r"\w+", re.UNICODE)
MIN_PREFIX = 5

STOPWORDS = {
    "cs": set(
        """
        a aby ahoj ale ani ano asi až bez bude budu by byl byla byli bylo byly být co což či dobrý dobry den děkuji
        dekuji díky dnes do i já jak jaké jaký jako je jeho její jejich jen ještě jsem jsi jsme jsou jste k kam
        kde kdo kdy když ke která které který kteří ku má mají mám máme máš máte mě mi mít mne mně mnou moc
        moje moji mou můj může můžete my na nad nám nás náš ne nebo něco nějak není nic o od ode on ona oni
        ono pak po pod podle pokud pomoc prosím pro proč proto protože před při s se si sice své svůj ta tak
        také tam tedy ten tento to tohle toho tom tu tuto ty tyto u už v vám vás váš ve vy z za zda ze že
        """.split()
    ),
}


def simple_terms(*, text: str, locale: str, exclude: frozenset[str] = frozenset()) -> list[tuple[str, bool]]:
    """The words worth matching, each with whether to match it as a prefix.

    ``exclude`` holds words too common in the knowledge base to be worth matching.
    """
    stopwords = STOPWORDS.get(locale, set()) | exclude
    terms: list[tuple[str, bool]] = []
    for word in WORD_RE.findall(text.lower()):
        if word in stopwords or word.isdigit() and len(word) < 3:
            continue
        term = (word, False)
        if len(word) > MIN_PREFIX:
            prefix = word[: max(MIN_PREFIX, len(word) - 2)]
            # A prefix matches the whole word family; if any member is too common, so is the family.
            if any(common.startswith(prefix) for common in exclude):
                continue
            term = (prefix, True)
        if term not in terms:
            terms.append(term)
    return terms
