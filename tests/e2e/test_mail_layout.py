"""The e-mails' HTML in chromium: it fits a 375 px phone screen, with no sideways scroll."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser

from registration import mail
from registration.db import transaction
from registration.extensions import db
from registration.models import OutboxMessage, Status

from ..factories import make_registration

pytestmark = pytest.mark.e2e

KINDS = [
    ("confirm_address", Status.PENDING),  # its long confirmation link is written out in full
    ("confirmed", Status.CONFIRMED),
    ("cancelled", Status.CANCELLED),
    ("cancelled_by_organiser", Status.CANCELLED),
    ("review_refused", Status.REFUSED),
]


@pytest.mark.parametrize("width", [375, 1280])
def test_every_email_fits_the_screen_without_horizontal_scroll(app, browser: Browser, event, width):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the rendering does not depend on the database")
    rows = [
        make_registration(app, event, status, email=f"agent{i}@numerique.gouv.fr")
        for i, (_, status) in enumerate(KINDS)
    ]
    with app.app_context(), transaction() as session:
        for (kind, _), row in zip(KINDS, rows, strict=True):
            mail.queue(session, kind, event, row)
    with app.app_context():
        bodies = [mail.rendered(m).body_html for m in db.session.scalars(sa.select(OutboxMessage))]
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="fr-FR")
    try:
        page = context.new_page()
        for (kind, _), body in zip(KINDS, bodies, strict=True):
            page.set_content(body)
            scroll, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert scroll <= client == width, f"{kind}: {scroll} px wide at {width} px"
            card = page.locator("table table").bounding_box()
            assert card is not None
            assert card["width"] <= min(width, 600), f"{kind}: card {card['width']} px"
    finally:
        context.close()
