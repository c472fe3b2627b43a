"""`copilot ask --json` on a committed database, where an escalation's email goes out while the
command runs (on commit), as it does for a person at the terminal."""

import json

import pytest
from django.core.management import call_command

from copilot.services import intents_import
from copilot.taxonomy import default_examples
from tests.factories import CustomerFactory


@pytest.mark.django_db(transaction=True)
def test_ask_json_prints_only_json_even_when_an_email_goes_out(settings, capsys):
    # The development settings print emails to standard output; the JSON must still parse.
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    intents_import(rows=default_examples())
    CustomerFactory(external_id="cus_json", name="Petr Svoboda", email="petr.json@example.cz")
    call_command("copilot", "ask", "I want to talk to a human, now.", "--customer", "cus_json", "--json")
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["turn"]["escalated"] is True
    # The email itself went to standard error, where a person running the command still sees it.
    assert "Subject:" in captured.err
    assert "petr.json@example.cz" in captured.err
