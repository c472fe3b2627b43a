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
        a aby ahoj ale ani ano asi až bez bude budu by byl byla byli bylo být co což či dobrý dobry den děkuji
        dekuji díky dnes do i já jak jaké jaký jako je jeho její jejich jen ještě jsem jsi jsme jsou jste k kam
        kde kdo kdy když ke která které který kteří ku má mají mám máme máš máte mě mi mít mne mně mnou moc
        moje moji mou můj může můžete my na nad nám nás náš ne nebo něco nějak není nic o od ode on ona oni
        ono pak po pod podle pokud pomoc prosím pro proč proto protože před při s se si sice své svůj ta tak
        také tam tedy ten tento to tohle toho tom tu tuto ty tyto u už v vám vás váš ve vy z za zda ze že
        """.split()
    ),
}


def simple_tsquery(*, text: str, locale: str) -> str:
    """An OR query for ``to_tsquery('simple', ...)``: lexemes are word characters only."""
    stopwords = STOPWORDS.get(locale, set())
    terms: list[str] = []
    for word in WORD_RE.findall(text.lower()):
        if word in stopwords or word.isdigit() and len(word) < 3:
            continue
        term = f"{word[: max(MIN_PREFIX, len(word) - 2)]}:*" if len(word) > MIN_PREFIX else word
        if term not in terms:
            terms.append(term)
    return " | ".join(terms)
