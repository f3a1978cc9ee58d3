"""Graph face: bearer tokens, audiences, scopes and roles, RBAC for Applications,
on-premises mailboxes."""

from __future__ import annotations

from collections.abc import Callable

import msal
import pytest
import requests

from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider
from tests.simulator.conftest import GRAPH_APP_ID, AsApp, AsUser, Graph, NewUser, _idp_session


@pytest.fixture(scope="module")
def sim(graph_sim: Simulator) -> Simulator:
    return graph_sim


def _plain(sim: Simulator, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(f"{sim.graph_url}{path}", headers=headers or {})


def test_it_answers_401_with_an_empty_token_message_when_no_token_is_sent(sim: Simulator) -> None:
    response = _plain(sim, "/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert response.json()["error"]["message"] == "Access token is empty."
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_it_answers_401_for_an_unknown_or_expired_token(sim: Simulator) -> None:
    response = _plain(sim, "/me", {"Authorization": "Bearer made-up"})

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Access token has expired or is not yet valid."


def test_it_refuses_a_token_for_another_audience(sim: Simulator, idp: IdentityProvider) -> None:
    app = msal.ConfidentialClientApplication(
        GRAPH_APP_ID,
        client_credential="graph-secret",
        authority=idp.authority,  # type: ignore[attr-defined]
        instance_discovery=False,
        http_client=_idp_session(idp),
    )
    token = app.acquire_token_for_client(["https://outlook.office365.com/.default"])

    response = _plain(sim, "/me", {"Authorization": f"Bearer {token['access_token']}"})

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid audience."


def test_me_answers_the_signed_in_user(sim: Simulator, new_user: NewUser, as_user: AsUser) -> None:
    alice = new_user("alice")

    response = as_user(alice).get("/me")

    assert response.status_code == 200
    body = response.json()
    assert body["mail"] == alice.email
    assert body["displayName"] == alice.name
    assert body["id"] == sim.store.mailbox(alice.email).object_id
    assert body["userPrincipalName"] == alice.upn


def test_me_is_refused_to_app_only_tokens(as_app: Callable[..., Graph]) -> None:
    response = as_app().get("/me")

    assert response.status_code == 400


def test_users_can_be_named_by_object_id_or_upn(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    graph = as_app()
    object_id = sim.store.mailbox(alice.email).object_id

    assert graph.get(f"/users/{object_id}").json()["mail"] == alice.email
    assert graph.get(f"/users/{alice.upn}").json()["id"] == object_id
    missing = graph.get("/users/nobody@contoso.example")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_a_delegated_token_without_calendar_scopes_is_denied_calendar_calls(
    new_user: NewUser, as_user: AsUser
) -> None:
    alice = new_user("alice")

    response = as_user(alice, ["User.Read"]).get("/me/calendars")

    assert response.status_code == 403
    assert response.json()["error"] == {
        **response.json()["error"],
        "code": "ErrorAccessDenied",
        "message": "Access is denied. Check credentials and try again.",
    }


def test_another_users_calendar_needs_a_shared_scope(
    sim: Simulator, new_user: NewUser, as_user: AsUser
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.set_permission(alice.email, bob.email, "Reviewer")

    plain = as_user(bob, ["Calendars.ReadWrite", "User.Read"])
    shared = as_user(bob, ["Calendars.Read.Shared", "User.Read"])

    assert plain.get(f"/users/{alice.email}/calendars").status_code == 403
    assert shared.get(f"/users/{alice.email}/calendars").status_code == 200


def test_rbac_for_applications_limits_an_app_to_its_scope(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    sim.store.app_scopes[GRAPH_APP_ID] = {alice.email}
    try:
        graph = as_app()
        inside = graph.get(f"/users/{alice.email}/calendar")
        outside = graph.get(f"/users/{bob.email}/calendar")
    finally:
        del sim.store.app_scopes[GRAPH_APP_ID]

    assert inside.status_code == 200
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "ErrorAccessDenied"


def test_an_app_without_a_calendar_role_is_denied(
    sim: Simulator, idp: IdentityProvider, new_user: NewUser
) -> None:
    idp.register_application("c0c0c0c0-0000-0000-0000-000000000000", "s", roles={"User.Read.All"})
    from tests.simulator.conftest import app_token

    graph = Graph(sim, app_token(idp, "c0c0c0c0-0000-0000-0000-000000000000", "s"))
    alice = new_user("alice")

    assert graph.get(f"/users/{alice.email}/calendar").status_code == 403


def test_an_on_premises_mailbox_answers_mailbox_not_enabled_for_rest(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    with sim.store.lock:
        sim.store.mailbox(alice.email).on_premises = True

    response = as_app().get(
        f"/users/{alice.email}/calendar/calendarView"
        "?startDateTime=2027-03-01T00:00:00&endDateTime=2027-03-02T00:00:00"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert response.json()["error"]["message"] == (
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
    )


def test_every_graph_request_is_logged_with_its_operation(
    sim: Simulator, new_user: NewUser, as_app: AsApp
) -> None:
    alice = new_user("alice")
    as_app().get(f"/users/{alice.email}/calendars")

    entry = sim.log[-1]
    assert entry.operation == "graph:listCalendars"
    assert entry.caller == f"app:{GRAPH_APP_ID}"
    assert entry.target == alice.email
    assert (entry.status, entry.outcome, entry.auth) == (200, "NoError", "bearer")
