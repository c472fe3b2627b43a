import json

import pytest
from django.urls import reverse

from tests.factories import AgentProfileFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return AgentProfileFactory(user=UserFactory(username="jana"), display_name="Jana Nováková").user


def test_console_redirects_anonymous_visitors_to_the_login_page(client):
    response = client.get(reverse("console:index"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('console:login')}?next=/console/"


def test_console_refuses_a_logged_in_user_who_is_not_an_agent(client):
    client.force_login(UserFactory(username="someone"))
    response = client.get(reverse("console:index"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "No access to the console" in body
    # A way out: the sign-out form.
    assert f'action="{reverse("console:logout")}"' in body


def test_console_refuses_an_inactive_agent(client, agent):
    agent.is_active = False
    agent.save()
    client.force_login(agent)
    # An inactive user's session is not authenticated any more: back to the login page.
    assert client.get(reverse("console:index")).status_code == 302


def test_console_renders_the_app_shell_for_an_agent(client, agent):
    client.force_login(agent)
    response = client.get(reverse("console:index"))
    assert response.status_code == 200
    body = response.content.decode()
    for landmark in ('id="queue-list"', 'id="transcript"', 'id="copilot-body"', 'id="composer-text"'):
        assert landmark in body
    assert 'id="f-status"' in body and 'value="pending_human"' in body
    assert 'id="f-priority"' in body and 'value="urgent"' in body
    assert 'id="sound-toggle"' in body
    assert "/static/console/console.js" in body
    assert "/static/console/console.css" in body
    assert "Jana Nováková" in body
    config = json.loads(_json_script(body, "console-config"))
    assert config["user"] == {"username": "jana", "name": "Jana Nováková", "is_staff": False}
    assert config["websocket"] == "/ws/console/"
    # The page sets the CSRF cookie the script reads for its POSTs.
    assert "csrftoken" in response.cookies


def test_console_lets_staff_in_without_an_agent_profile(client):
    client.force_login(StaffFactory(username="boss", first_name="Big", last_name="Boss"))
    response = client.get(reverse("console:index"))
    assert response.status_code == 200
    assert "Big Boss" in response.content.decode()


def test_console_shell_escapes_the_agent_name(client):
    user = AgentProfileFactory(user=UserFactory(username="x"), display_name='<img src=x onerror="alert(1)">').user
    client.force_login(user)
    body = client.get(reverse("console:index")).content.decode()
    assert "<img src=x" not in body


def test_console_index_rejects_post(client, agent):
    client.force_login(agent)
    assert client.post(reverse("console:index")).status_code == 405


def test_login_page_renders(client):
    response = client.get(reverse("console:login"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Agent console" in body
    assert 'name="username"' in body and 'name="password"' in body
    assert "csrfmiddlewaretoken" in body


def test_login_signs_an_agent_in_and_goes_to_the_console(client, agent):
    response = client.post(reverse("console:login"), {"username": "jana", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get(reverse("console:index")).status_code == 200


def test_login_honours_next(client, agent):
    response = client.post(reverse("console:login"), {"username": "jana", "password": "pw", "next": "/console/#c=5"})
    assert response.status_code == 302
    assert response["Location"] == "/console/#c=5"


def test_login_shows_an_error_for_a_wrong_password(client, agent):
    response = client.post(reverse("console:login"), {"username": "jana", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_refuses_a_user_who_is_not_an_agent(client):
    UserFactory(username="someone")
    response = client.post(reverse("console:login"), {"username": "someone", "password": "pw"})
    assert response.status_code == 200
    assert "no access to the agent console" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_page_sends_a_signed_in_agent_to_the_console(client, agent):
    client.force_login(agent)
    response = client.get(reverse("console:login"))
    assert response.status_code == 302
    assert response["Location"] == "/console/"


def test_logout_signs_out_and_returns_to_the_login_page(client, agent):
    client.force_login(agent)
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("console:login")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("console:index")).status_code == 302


def test_logout_refuses_get(client, agent):
    client.force_login(agent)
    assert client.get(reverse("console:logout")).status_code == 405
    assert "_auth_user_id" in client.session


def test_static_files_are_served(client):
    for name in ("console/console.js", "console/console.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name


def _json_script(body: str, element_id: str) -> str:
    start = body.index(f'<script id="{element_id}" type="application/json">')
    start = body.index(">", start) + 1
    return body[start : body.index("</script>", start)]


def test_the_console_and_the_demo_page_carry_a_content_security_policy(client):
    console = client.get("/console/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in console and "'unsafe-inline'" not in console
    assert "frame-ancestors 'none'" in console and "object-src 'none'" in console
    demo = client.get("/demo/")["Content-Security-Policy"]
    assert "script-src 'self';" in demo
    assert "style-src 'self' 'unsafe-inline'" in demo
    help_centre = client.get("/help/")["Content-Security-Policy"]
    assert "script-src 'self'" in help_centre and "'unsafe-inline'" not in help_centre
