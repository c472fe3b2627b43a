"""Email follow-ups: when no agent was online at escalation, the customer is told we will
answer by email. These send that acknowledgement and, later, the agents' replies.

Each send claims its row under a lock and stamps it in the same transaction, so a task
that runs twice sends once; a failed send rolls the stamp back and the task retries.

Anyone can leave any address in the chat, so an address nobody confirmed gets none of the
visitor's words (no quoted message, no name): otherwise the shop's support address would mail
a stranger whatever text and links a visitor typed. Only the verified customer's own CRM
address counts as confirmed. The limits in ``helpdesk.services.limits`` cap how often one
client can leave addresses and how many acknowledgements one address gets a day.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from helpdesk.jobs import task_enqueue_on_commit
from helpdesk.models import Conversation, Message, Ticket
from helpdesk.payloads import agent_name
from helpdesk.selectors import conversation_reply_email_get, customer_is_online, email_mask
from helpdesk.services.conversations import conversation_lock, conversation_state_broadcast, system_message_add
from helpdesk.services.limits import (
    contact_email_rate_check,
    follow_up_recipient_check,
    follow_up_recipient_release,
    follow_up_recipient_take,
)

EMAILS = {
    "en": {
        "ack_subject": "We received your request {reference}",
        "ack_body": (
            "Hello{name},\n\n"
            "no one from our support team was online when you asked for help in the chat. "
            "Your request {reference} is in our queue, and an agent will reply to this address.\n\n"
            "{last}"
            "{shop} support"
        ),
        "last": "Your message: {text}\n\n",
        # To an address nobody confirmed: only our own words, the reference and the shop's name.
        "notice_subject": "We received your request {reference}",
        "notice_body": (
            "Hello,\n\n"
            "this address was left for our answer when someone asked for help in the chat on the {shop} website "
            "and no one from our support team was online. The request {reference} is in our queue, "
            "and an agent will reply to this address.\n\n"
            "If you did not ask us for help, you can ignore this email.\n\n"
            "{shop} support"
        ),
        "reply_subject": "{agent} replied to your request {reference}",
        "reply_body": (
            "Hello{name},\n\n{text}\n\n{agent}, {shop} support\n\nYou can also answer in the chat on our website."
        ),
    },
    "cs": {
        "ack_subject": "Přijali jsme váš požadavek {reference}",
        "ack_body": (
            "Dobrý den,\n\n"
            "když jste v chatu požádali o pomoc, nebyl z naší podpory nikdo online. "
            "Váš požadavek {reference} čeká ve frontě a kolega vám odpoví na tuto adresu.\n\n"
            "{last}"
            "Podpora {shop}"
        ),
        "last": "Vaše zpráva: {text}\n\n",
        "notice_subject": "Přijali jsme váš požadavek {reference}",
        "notice_body": (
            "Dobrý den,\n\n"
            "tuto adresu nám někdo zanechal pro odpověď, když v chatu na webu {shop} požádal o pomoc "
            "a nikdo z naší podpory nebyl online. Požadavek {reference} čeká ve frontě "
            "a kolega odpoví na tuto adresu.\n\n"
            "Pokud jste o pomoc nežádali, můžete tento e-mail ignorovat.\n\n"
            "Podpora {shop}"
        ),
        "reply_subject": "{agent} odpověděl(a) na váš požadavek {reference}",
        "reply_body": "Dobrý den,\n\n{text}\n\n{agent}, podpora {shop}\n\nOdpovědět můžete i v chatu na našem webu.",
    },
}


def _texts(language: str) -> dict:
    return EMAILS.get(language, EMAILS["en"])


def _address_confirmed(*, conversation: Conversation, email: str) -> bool:
    """Whether ``email`` is the verified customer's own CRM address: the only address that may get
    what the visitor wrote. Any other address was typed into the chat and may be a stranger's."""
    customer = conversation.customer if conversation.customer_id else None
    return bool(customer and customer.email and customer.email.strip().lower() == email.strip().lower())


def _greeting_name(conversation: Conversation, *, confirmed: bool) -> str:
    # Only a name from the CRM, and only to the customer's own address: the customer may have typed
    # that name into their shop profile. The Czech texts greet without a name, which would need the vocative.
    if confirmed and conversation.customer.name:
        return f" {conversation.customer.name.split()[0]}"
    return ""


def _mail(*, conversation: Conversation, to: str, kind: str, key: str, confirmed: bool, **fields: str) -> None:
    """One email of ``kind`` ("ack", "notice" or "reply") in the conversation's language.

    Its Message-ID comes from ``key``: if a worker dies after the mail server accepted it but
    before the send was recorded, the task runs again and sends the same email, which mail
    systems and clients show once. (SMTP offers no exactly-once delivery.)
    """
    texts = _texts(conversation.language)
    fields = {"name": _greeting_name(conversation, confirmed=confirmed), "shop": settings.COPILOT_SHOP_NAME, **fields}
    EmailMessage(
        subject=texts[f"{kind}_subject"].format(**fields),
        body=texts[f"{kind}_body"].format(**fields),
        to=[to],
        headers={"Message-ID": f"<{kind}-{key}@{DNS_NAME}>"},
    ).send()


def follow_up_acknowledgement_enqueue(*, ticket: Ticket) -> None:
    from helpdesk.tasks import follow_up_acknowledgement_task

    task_enqueue_on_commit(follow_up_acknowledgement_task, ticket.pk)


def agent_reply_email_enqueue(*, message: Message) -> None:
    from helpdesk.tasks import agent_reply_email_task

    task_enqueue_on_commit(agent_reply_email_task, message.pk)


@transaction.atomic
def follow_up_acknowledgement_send(*, ticket_id: int) -> bool:
    """Email the customer that their queued request will be answered by email. Sends at most once.

    Returns whether an email went out: not for a deleted, closed or already acknowledged
    ticket, nor while no address is known, nor to an unconfirmed address that had today's
    acknowledgements (the ticket stays queued for the agents either way).
    """
    ticket = (
        Ticket.objects.select_for_update()
        .filter(
            pk=ticket_id,
            follow_up_by_email=True,
            follow_up_acknowledged_at__isnull=True,
            status__in=Ticket.OPEN_STATUSES,
            conversation__isnull=False,
        )
        .first()
    )
    if ticket is None:
        return False
    conversation = Conversation.objects.select_related("customer").get(pk=ticket.conversation_id)
    email = conversation_reply_email_get(conversation=conversation)
    if not email:
        return False
    reference = ticket.reference
    if _address_confirmed(conversation=conversation, email=email):
        last = (
            Message.objects.filter(conversation=conversation, role=Message.Role.CUSTOMER)
            .order_by("-id")
            .values_list("content", flat=True)
            .first()
        )
        # Someone who pressed "Talk to a human" without writing has no message to quote.
        quoted = _texts(conversation.language)["last"].format(text=last[:500]) if last else ""
        _mail(
            conversation=conversation,
            to=email,
            kind="ack",
            key=reference,
            confirmed=True,
            reference=reference,
            last=quoted,
        )
    else:
        # Counted here, where the email goes out, as well as when the address is left: an address
        # left before the escalation is acknowledged without being left again.
        if not follow_up_recipient_take(email=email):
            return False
        try:
            _mail(
                conversation=conversation, to=email, kind="notice", key=reference, confirmed=False, reference=reference
            )
        except Exception:
            follow_up_recipient_release(email=email)
            raise
    ticket.follow_up_acknowledged_at = timezone.now()
    ticket.save(update_fields=["follow_up_acknowledged_at", "updated_at"])
    return True


def agent_reply_email_wanted(*, conversation: Conversation) -> bool:
    """An agent's reply is emailed when an email answer was promised and the customer is not in the chat."""
    promised = Ticket.objects.filter(
        conversation=conversation, status__in=Ticket.OPEN_STATUSES, follow_up_by_email=True
    ).exists()
    return promised and not customer_is_online(conversation_id=conversation.pk)


@transaction.atomic
def agent_reply_email_send(*, message_id: int) -> bool:
    """Email an agent's reply that was written while the customer was away. Sends at most once.

    Without an address yet the reply waits; ``conversation_contact_email_set`` sends it.
    """
    message = (
        Message.objects.select_for_update()
        .filter(pk=message_id, role=Message.Role.AGENT, emailed_at__isnull=True, metadata__email_wanted=True)
        .first()
    )
    if message is None:
        return False
    conversation = Conversation.objects.select_related("customer").get(pk=message.conversation_id)
    ticket = (
        Ticket.objects.filter(conversation=conversation, kind=Ticket.Kind.ESCALATION, follow_up_by_email=True)
        .order_by("-id")
        .first()
    )
    email = conversation_reply_email_get(conversation=conversation)
    if ticket is None or not email:
        return False
    author = agent_name(message.author) if message.author_id else settings.COPILOT_SHOP_NAME
    # The agent's words are the shop's own and go to any address; the greeting's name only to a confirmed one.
    _mail(
        conversation=conversation,
        to=email,
        kind="reply",
        key=f"{ticket.reference}-{message.pk}",
        confirmed=_address_confirmed(conversation=conversation, email=email),
        reference=ticket.reference,
        text=message.content,
        agent=author,
    )
    message.emailed_at = timezone.now()
    message.save(update_fields=["emailed_at"])
    return True


CONTACT_CONFIRMATIONS = {
    "en": "Thanks! We will reply to {email}.",
    "cs": "Děkujeme! Odpovíme na {email}.",
}


@transaction.atomic
def conversation_contact_email_set(*, conversation_id: int, email: str, client_ip: str = "") -> Conversation:
    """The visitor left an address for the email follow-up; a queued request is acknowledged there.

    ``RateLimited`` (a ``ValidationError``) when ``client_ip`` left too many addresses this hour, or
    when this unconfirmed address had today's acknowledgements; nothing changes then, and a queued
    request stays queued for the agents.
    """
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": "Enter a valid email address."}) from exc
    contact_email_rate_check(client_ip=client_ip)
    conversation = conversation_lock(conversation_id=conversation_id)
    if conversation.contact_email.lower() != email.lower():
        if not _address_confirmed(conversation=conversation, email=email):
            follow_up_recipient_check(email=email)
        conversation.contact_email = email
        conversation.save(update_fields=["contact_email", "updated_at"])
        text = CONTACT_CONFIRMATIONS.get(conversation.language, CONTACT_CONFIRMATIONS["en"])
        system_message_add(conversation=conversation, text=text.format(email=email_mask(email)), event="contact_email")
        conversation_state_broadcast(conversation=conversation)
    waiting = Ticket.objects.filter(
        conversation=conversation,
        follow_up_by_email=True,
        follow_up_acknowledged_at__isnull=True,
        status__in=Ticket.OPEN_STATUSES,
    ).first()
    if waiting is not None:
        follow_up_acknowledgement_enqueue(ticket=waiting)
    # Replies the customer missed while no address was known go out now.
    unsent = Message.objects.filter(
        conversation=conversation, role=Message.Role.AGENT, emailed_at__isnull=True, metadata__email_wanted=True
    )
    for message in unsent:
        agent_reply_email_enqueue(message=message)
    return conversation
