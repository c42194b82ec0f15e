"""Arbitrary text in every field: a 200 with field errors or a redirect, never a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import attendees, register_url

text = st.text(max_size=300)
FIELDS = ("first_name", "last_name", "email", "employer", "job_title", "accessibility_needs")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.fixed_dictionaries({f: text for f in FIELDS}),
    departments=st.lists(text, max_size=3),
    certify=st.sampled_from([None, "y", "n", ""]),
    privacy=st.sampled_from([None, "y", ""]),
    website=st.one_of(st.just(""), text),
)
def test_arbitrary_input_never_breaks_the_form(app, values, departments, certify, privacy, website):
    client = app.test_client()
    data = {**values, "departments": departments, "website": website}
    if certify is not None:
        data["certify_agent"] = certify
    if privacy is not None:
        data["accept_privacy"] = privacy
    before = len(attendees(app))
    response = client.post(register_url(), data=data)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert len(attendees(app)) == before
        body = response.get_data(as_text=True)
        assert "fr-error-text" in body or "Cet événement est réservé aux agents publics" in body


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    local=st.from_regex(r"[a-z][a-z0-9.]{0,20}", fullmatch=True),
    bad=st.text(
        alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), min_size=1, max_size=3
    ),
)
def test_control_characters_in_names_are_refused(app, local, bad):
    response = app.test_client().post(
        register_url(),
        data={
            "first_name": f"Ca{bad}mille",
            "last_name": "Durand",
            "email": f"{local}@numerique.gouv.fr",
            "employer": "DINUM",
            "job_title": "Test",
            "certify_agent": "y",
            "accept_privacy": "y",
        },
    )
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)
    assert attendees(app) == []
