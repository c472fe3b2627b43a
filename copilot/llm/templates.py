"""Localised sentences the offline engine composes answers from. English is the fallback."""

from datetime import date

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hi {name},",
        "greeting_anonymous": "Hi,",
        "tier": "As a {tier} customer, you get priority help from us.",
        "previous": "Last time you asked about {summary}.",
        "order_shipped_late": (
            "Order #{number} was shipped on {shipped} with {carrier} (tracking number {tracking}) and has not "
            "been delivered yet. It has been on its way for {days} days, which is longer than it should take."
        ),
        "order_shipped": (
            "Order #{number} was shipped on {shipped} with {carrier} (tracking number {tracking}) and is on its way."
        ),
        "order_delivered": "Order #{number} was delivered on {delivered}.",
        "order_open": "Order #{number} was placed on {placed} and is being prepared (status: {status}).",
        "order_cancelled": "Order #{number} was cancelled.",
        "order_returned": "Order #{number} has been returned and refunded.",
        "order_not_found": (
            "I couldn't find order #{asked} on your account. Please check the number; I can only look up "
            "orders placed from your own account."
        ),
        "no_orders": "I can't see any orders on your account yet.",
        "crm_unavailable": (
            "I can't reach our order and account system right now, so I can't check that for you, and I won't "
            "guess. A colleague will look it up and get back to you."
        ),
        "no_customer": (
            "To look at orders or your account, I need to know it's you: please sign in to your account first."
        ),
        "account": "Your account {number} is {status}, on the {tier} plan.",
        "account_payment": "The last payment we received was {amount} {currency} on {paid}.",
        "account_review": "Because of the account's status, a colleague needs to review it personally.",
        "return_ok": "Order #{number} was delivered on {delivered}, so you can return it until {until}.",
        "return_expired": (
            "The 30-day return window for order #{number} ended on {until}, but you can file a warranty claim "
            "until {claim_until}."
        ),
        "return_not_delivered": (
            "Order #{number} hasn't been delivered yet, so there is nothing to return or claim yet; if it doesn't "
            "arrive, we handle it as a delivery problem."
        ),
        "return_done": "Order #{number} has already been returned.",
        "return_closed": (
            "Both the 30-day return window and the warranty period for order #{number} have ended (the warranty "
            "ran until {claim_until})."
        ),
        "kb_intro": "Here is what our help centre says:",
        "escalated": "I've passed this to a colleague (ticket {ticket}); they will reply here{sla}.",
        "escalated_human": (
            "Of course. I've asked a colleague to take over (ticket {ticket}); they will reply here{sla}."
        ),
        "sla_minutes": ", usually within {minutes} minutes",
        "sla_hours": ", usually within {hours} hours",
        "sorry": "I'm sorry about the trouble.",
        "unsure": "I'm not sure I have the right answer to that.",
        "unsure_offer": "I'm not sure I have the right answer to that. Would you like me to ask a colleague?",
        "thanks": "You're welcome! Is there anything else I can help you with?",
        "hello": "How can I help you today?",
        "offer_human": "If you'd like, I can connect you with a colleague.",
        "safe": (
            "I want to be sure you get a correct answer, so I've passed your question to a colleague "
            "(ticket {ticket}); they will reply here{sla}."
        ),
        "error": "Sorry, something went wrong on our side. A colleague will pick up your message.",
        "lost": "Sorry, I lost my train of thought there. A colleague will follow up on this.",
        "status_thinking": "Reading your message",
        "status_searching": "Searching the help centre",
        "status_order": "Checking your order",
        "status_account": "Checking your account",
        "status_return": "Checking the return policy for your order",
        "status_escalating": "Asking a colleague to join",
    },
    "cs": {
        "greeting": "Dobrý den, {name},",
        "greeting_anonymous": "Dobrý den,",
        "tier": "Jako zákazník úrovně {tier} máte u nás přednostní podporu.",
        "previous": "Minule jste se ptali na: {summary}.",
        "order_shipped_late": (
            "Objednávka č. {number} byla odeslána {shipped} přepravcem {carrier} (číslo zásilky {tracking}) a "
            "zatím nebyla doručena. Na cestě je už {days} dní, což je déle, než by mělo být."
        ),
        "order_shipped": (
            "Objednávka č. {number} byla odeslána {shipped} přepravcem {carrier} (číslo zásilky {tracking}) a je "
            "na cestě."
        ),
        "order_delivered": "Objednávka č. {number} byla doručena {delivered}.",
        "order_open": "Objednávka č. {number} byla přijata {placed} a připravujeme ji (stav: {status}).",
        "order_cancelled": "Objednávka č. {number} byla zrušena.",
        "order_returned": "Objednávka č. {number} byla vrácena a peníze vráceny.",
        "order_not_found": (
            "Objednávku č. {asked} jsem ve vašem účtu nenašel. Zkontrolujte prosím číslo; mohu zobrazit jen "
            "objednávky z vašeho vlastního účtu."
        ),
        "no_orders": "Ve vašem účtu zatím nevidím žádné objednávky.",
        "crm_unavailable": (
            "Teď se nemohu spojit se systémem objednávek a účtů, takže to nemohu ověřit, a hádat nebudu. "
            "Kolega to dohledá a ozve se vám."
        ),
        "no_customer": "Abych mohl nahlédnout do objednávek nebo účtu, přihlaste se prosím nejdřív ke svému účtu.",
        "account": "Váš účet {number} je ve stavu {status}, tarif {tier}.",
        "account_payment": "Poslední platbu {amount} {currency} jsme přijali {paid}.",
        "account_review": "Kvůli stavu účtu ho musí osobně zkontrolovat kolega.",
        "return_ok": "Objednávka č. {number} byla doručena {delivered}, vrátit ji můžete do {until}.",
        "return_expired": (
            "Lhůta 30 dnů na vrácení objednávky č. {number} skončila {until}, reklamaci ale můžete podat do "
            "{claim_until}."
        ),
        "return_not_delivered": (
            "Objednávka č. {number} zatím nebyla doručena, takže ji zatím nelze vrátit ani reklamovat; pokud "
            "nedorazí, řešíme to jako problém s doručením."
        ),
        "return_done": "Objednávka č. {number} už byla vrácena.",
        "return_closed": (
            "Lhůta 30 dnů na vrácení i záruční doba objednávky č. {number} už skončily (záruka platila do "
            "{claim_until})."
        ),
        "kb_intro": "V našem centru nápovědy k tomu píšeme:",
        "escalated": "Předal jsem to kolegovi (požadavek {ticket}), který vám odpoví přímo tady{sla}.",
        "escalated_human": (
            "Samozřejmě. Požádal jsem kolegu, aby to převzal (požadavek {ticket}); odpoví vám tady{sla}."
        ),
        "sla_minutes": ", obvykle do {minutes} minut",
        "sla_hours": ", obvykle do {hours} hodin",
        "sorry": "Omlouvám se za potíže.",
        "unsure": "Nejsem si jistý, že na to mám správnou odpověď.",
        "unsure_offer": "Nejsem si jistý, že na to mám správnou odpověď. Mám požádat kolegu?",
        "thanks": "Rádo se stalo! Mohu vám ještě s něčím pomoci?",
        "hello": "S čím vám mohu pomoci?",
        "offer_human": "Pokud chcete, spojím vás s kolegou.",
        "safe": (
            "Chci mít jistotu, že dostanete správnou odpověď, proto jsem váš dotaz předal kolegovi "
            "(požadavek {ticket}); odpoví vám tady{sla}."
        ),
        "error": "Omlouváme se, u nás se něco pokazilo. Vaší zprávy se ujme kolega.",
        "lost": "Omlouvám se, ztratil jsem nit. Kolega se vám ozve.",
        "status_thinking": "Čtu vaši zprávu",
        "status_searching": "Hledám v centru nápovědy",
        "status_order": "Kontroluji vaši objednávku",
        "status_account": "Kontroluji váš účet",
        "status_return": "Ověřuji podmínky vrácení pro vaši objednávku",
        "status_escalating": "Zvu kolegu do konverzace",
    },
}

STATUS_LABELS = {
    "cs": {
        "active": "aktivní",
        "suspended": "pozastavený",
        "refund_eligible": "čeká na vrácení peněz",
        "pending": "čeká",
        "processing": "zpracovává se",
        "free": "Free",
        "basic": "Basic",
        "premium": "Premium",
    },
    "en": {"refund_eligible": "awaiting a refund review"},
}

MONTHS_EN = "January February March April May June July August September October November December".split()


def text(language: str, key: str, **values) -> str:
    table = STRINGS.get(language, STRINGS["en"])
    return table.get(key, STRINGS["en"][key]).format(**values)


def label(language: str, value: str) -> str:
    return STATUS_LABELS.get(language, {}).get(value, STATUS_LABELS["en"].get(value, value.replace("_", " ")))


def day(language: str, iso: str | None) -> str:
    if not iso:
        return ""
    value = date.fromisoformat(iso)
    if language == "cs":
        return f"{value.day}. {value.month}. {value.year}"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def sla(language: str, minutes: int | None) -> str:
    if not minutes:
        return ""
    if minutes < 120:
        return text(language, "sla_minutes", minutes=minutes)
    return text(language, "sla_hours", hours=minutes // 60)


# Czech addresses people in the vocative ("Dobrý den, Petře"). These are the regular
# patterns of first names; a name they do not fit is left as it is, which reads as
# informal rather than wrong.
CS_VOCATIVE_SUFFIXES = [
    ("něk", "ňku"),
    ("těk", "ťku"),
    ("děk", "ďku"),
    ("ek", "ku"),
    ("el", "le"),
    ("ch", "chu"),
    ("a", "o"),
    ("k", "ku"),
    ("h", "hu"),
    ("g", "gu"),
]
CS_SOFT_ENDINGS = ("š", "ž", "č", "ř", "j", "c", "x")
CS_VOCATIVE_EXCEPTIONS = {
    "daniel": "Danieli",
    "michael": "Michaeli",
    "samuel": "Samueli",
    "gabriel": "Gabrieli",
    "emanuel": "Emanueli",
    # Women's names that end in a consonant do not change.
    "dagmar": "Dagmar",
    "ester": "Ester",
    "ingrid": "Ingrid",
    "miriam": "Miriam",
    "karin": "Karin",
    "carmen": "Carmen",
    "ruth": "Ruth",
    "edith": "Edith",
    "doris": "Doris",
}
CS_VOWELS = set("aeiouyáéěíóúůý")


def vocative(language: str, name: str) -> str:
    """The form of a first name used to address its bearer."""
    if language != "cs" or not name.isalpha():
        return name
    lower = name.lower()
    if lower in CS_VOCATIVE_EXCEPTIONS:
        return CS_VOCATIVE_EXCEPTIONS[lower]
    if lower[-1] in "eiíoyýuů":
        return name
    for ending, replacement in CS_VOCATIVE_SUFFIXES:
        if lower.endswith(ending):
            return name[: -len(ending)] + replacement
    if lower.endswith(CS_SOFT_ENDINGS):
        return name + "i"
    if lower.endswith("r") and len(lower) > 1 and lower[-2] not in CS_VOWELS:
        return name[:-1] + "ře"
    return name + "e"
