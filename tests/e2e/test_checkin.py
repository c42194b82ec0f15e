"""Check-in at the door in chromium: a real QR code scanned through a fake camera (a video of
the code that the test writes), the second scan, the undo, a check-in kept while offline and
sent when the network is back; axe-core on the Accueil page and the ticket, at 375 and
1,280 px."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from registration import links
from registration.checkin import api, codes
from registration.models import Status

from ..checkin.qr import decode
from ..conftest import ROOT
from ..factories import PASSWORD, make_registration, make_user, registrations
from .helpers import CHROMIUM, CHROMIUM_ARGS, check_accessibility, settle

pytestmark = pytest.mark.e2e

ORGA = "orga@numerique.gouv.fr"
SLUG = "atelier-des-communs"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
# The README's screenshot, written again with UPDATE_SCREENSHOTS=1.
SCREENSHOT = ROOT / "docs" / "screenshots" / "accueil-telephone.png"
LONG = 30_000  # ms: the camera opens, the decoder loads, a frame is read (a loaded machine)


def write_qr_video(code: str, path: Path, width: int = 640, height: int = 480) -> None:
    """A Y4M video (what chromium's fake camera plays, in a loop): the QR code for 1.5 s,
    then 3 s of white, so that the code comes back as a second scan. Y plane from the QR's
    modules (the pages' and e-mails' own, quiet zone included), U and V at 128 (grey)."""
    matrix = codes.qr_modules(code)
    scale = int(min(width, height) * 0.85) // len(matrix)
    size = scale * len(matrix)
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray(b"\xff" * (width * height))
    for r, row in enumerate(matrix):
        line = bytes(value for value in row for _ in range(scale))
        for dy in range(scale):
            start = (top + r * scale + dy) * width + left
            luma[start : start + size] = line
    chroma = b"\x80" * ((width // 2) * (height // 2) * 2)
    white = b"\xff" * (width * height)
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(15):
            video.write(b"FRAME\n" + bytes(luma) + chroma)
        for _ in range(30):
            video.write(b"FRAME\n" + white + chroma)


@pytest.fixture
def camera_browser(browser: Browser, tmp_path: Path) -> Iterator[tuple[Browser, Path]]:
    """Chromium whose camera plays tmp_path/camera.y4m (written by the test before it opens
    the camera) and that grants the camera without asking: a second chromium, launched by
    the session's Playwright (one Playwright per process)."""
    video = tmp_path / "camera.y4m"
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=args)
    yield camera, video
    camera.close()


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/connexion")
    page.get_by_label("Adresse e-mail").fill(ORGA)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text("Espace organisateur")


# The image as the browser draws it, at its size on the page: the green channel of each pixel.
DRAWN = """img => {
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0, img.width, img.height);
    const rgba = context.getImageData(0, 0, img.width, img.height).data;
    return {width: img.width, luma: Array.from(rgba.filter((_, i) => i % 4 === 1))};
}"""


def shown_code(page: Page, name: str) -> str | None:
    """What a scanner reads in the QR code named `name`, as the browser draws it."""
    drawn = page.get_by_role("img", name=name).evaluate(DRAWN)
    pixels, width = bytes(drawn["luma"]), drawn["width"]
    return decode([pixels[i : i + width] for i in range(0, len(pixels), width)])


def arrived(app, email: str) -> bool:
    [row] = [r for r in registrations(app) if r.email == email]
    return row.checked_in_at is not None


def test_the_door_scans_a_code_with_the_camera_and_keeps_scans_while_offline(
    live_server_factory, camera_browser, event, tmp_path
):
    browser, video = camera_browser
    server = live_server_factory()
    make_user(server.app, ORGA)
    camille = make_registration(
        server.app, event, email="camille@numerique.gouv.fr", first_name="Camille"
    )
    make_registration(
        server.app, event, email="zoe@numerique.gouv.fr", first_name="Zoé", last_name="Martin"
    )
    with server.app.app_context():
        write_qr_video(codes.checkin_code(camille.public_id, SLUG), video)

    context = browser.new_context(
        locale="fr-FR", timezone_id="Europe/Paris", viewport=PHONE, device_scale_factor=2
    )
    context.grant_permissions(["camera"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, server.url)
        page.goto(f"{server.url}/organisation/{SLUG}/accueil")
        expect(page.locator("#arrivees")).to_have_text(
            "0 arrivée sur 2 inscriptions confirmées (0\u00a0%)"
        )
        check_accessibility(page, tmp_path, "accueil-375")

        # The camera reads the code: green, then the same code again: « déjà enregistré ».
        page.get_by_role("button", name="Activer la caméra").click()
        title = page.locator("#resultat-titre")
        expect(title).to_have_text("Bienvenue", timeout=LONG)
        expect(page.locator("#resultat")).to_have_class("app-result app-result--ok")
        expect(page.locator("#resultat-nom")).to_have_text("Camille Durand")
        expect(page.locator("#resultat-conseil")).to_have_text("Laissez entrer la personne.")
        expect(page.locator("#arrivees")).to_have_text(
            "1 arrivée sur 2 inscriptions confirmées (50\u00a0%)"
        )
        assert arrived(server.app, "camille@numerique.gouv.fr")
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        check_accessibility(page, tmp_path, "accueil-vert-375")

        expect(title).to_have_text("Déjà enregistré", timeout=LONG)
        expect(page.locator("#resultat")).to_have_class("app-result app-result--stop")
        expect(page.locator("#resultat-message")).to_have_text(
            f"Déjà enregistré à 10h00 par {ORGA}."
        )
        page.get_by_role("button", name="Arrêter la caméra").click()
        check_accessibility(page, tmp_path, "accueil-rouge-375")

        # A mistake at the door: undone.
        page.get_by_role("button", name="Annuler cette arrivée").click()
        expect(title).to_have_text("Arrivée annulée")
        expect(page.locator("#arrivees")).to_have_text(
            "0 arrivée sur 2 inscriptions confirmées (0\u00a0%)"
        )
        assert not arrived(server.app, "camille@numerique.gouv.fr")

        # Without a code, by name; the network drops before the button is pressed.
        page.get_by_label("Nom, prénom, adresse e-mail ou administration").fill("martin")
        page.get_by_role("button", name="Rechercher").click()
        expect(page.locator("#resultats")).to_contain_text("Zoé Martin – DINUM – Confirmée")
        context.set_offline(True)
        page.get_by_role("button", name="Enregistrer l’arrivée de Zoé Martin").click()
        expect(title).to_have_text("Passage gardé sur ce téléphone")
        expect(page.locator("#en-attente")).to_have_text(
            "1 passage en attente d’envoi : il partira dès le retour de la connexion."
        )
        assert not arrived(server.app, "zoe@numerique.gouv.fr")
        check_accessibility(page, tmp_path, "accueil-hors-ligne-375")

        context.set_offline(False)
        expect(page.locator("#en-attente")).to_have_text("Aucun passage en attente d’envoi.")
        expect(page.locator("#historique li").first).to_have_text(
            "Envoyé après la coupure : Bienvenue – Zoé Martin – Arrivée enregistrée à 10h00."
        )
        assert arrived(server.app, "zoe@numerique.gouv.fr")

        page.set_viewport_size(DESKTOP)
        check_accessibility(page, tmp_path, "accueil-1280")
        settle(page)
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375", "1280"])
def test_the_ticket_page_is_accessible(live_server, page, event, tmp_path, viewport):
    registration = make_registration(live_server.app, event, first_name="Camille")
    with live_server.app.app_context():
        token = links.manage_token(registration)
        code = codes.checkin_code(registration.public_id, SLUG)
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}/agenda/{SLUG}/mon-inscription/{token}")
    expect(page.locator("#code-accueil")).to_be_visible()
    assert shown_code(page, "QR code d’accueil de Camille Durand") == code
    check_accessibility(page, tmp_path, f"mon-inscription-{viewport['width']}")
    page.get_by_role("link", name="Afficher le billet à imprimer").click()
    expect(page.locator("#billet")).to_contain_text("Camille Durand")
    expect(page.get_by_role("img", name="QR code d’accueil de Camille Durand")).to_be_visible()
    assert shown_code(page, "QR code d’accueil de Camille Durand") == code
    check_accessibility(page, tmp_path, f"billet-{viewport['width']}")
    settle(page)


def test_the_accueil_drops_refused_scans_offers_no_arrival_without_a_seat_and_keeps_count(
    live_server, page, event
):
    app = live_server.app
    other_door = make_user(app, "porte.b@numerique.gouv.fr")
    make_user(app, ORGA)
    zoe = make_registration(
        app, event, email="zoe@numerique.gouv.fr", first_name="Zoé", last_name="Martin"
    )
    make_registration(
        app,
        event,
        Status.CANCELLED,
        email="claude@numerique.gouv.fr",
        first_name="Claude",
        last_name="Martin",
        employer="",
    )
    latecomer = make_registration(app, event, email="camille@numerique.gouv.fr")
    page.set_viewport_size(PHONE)
    page.clock.install()  # the count's refresh, every 15 s, comes when the test says
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/organisation/{SLUG}/accueil")

    # Two scans kept on the phone; the server can never take the first (a damaged one): it is
    # dropped and the second one goes.
    page.evaluate(
        """([key, id]) => localStorage.setItem(key, JSON.stringify([
             {scan: "abime", id: "x".repeat(33), label: "Passage abîmé"},
             {scan: "zoe", id, label: "Zoé Martin"},
           ]))""",
        [f"inscriptions-accueil-{SLUG}", zoe.public_id],
    )
    page.reload()
    expect(page.locator("#en-attente")).to_have_text("Aucun passage en attente d’envoi.")
    expect(page.locator("#historique li")).to_have_text(
        [
            "Envoyé après la coupure : Bienvenue – Zoé Martin – Arrivée enregistrée à 10h00.",
            "Refusé après la coupure : Passage abîmé – Ni code ni inscription dans la requête.",
        ]
    )
    assert arrived(app, "zoe@numerique.gouv.fr")
    assert page.evaluate(f"localStorage.getItem('inscriptions-accueil-{SLUG}')") == "[]"

    # The search: a cancelled registration shows its status, and no button; no empty part.
    page.get_by_label("Nom, prénom, adresse e-mail ou administration").fill("martin")
    page.get_by_role("button", name="Rechercher").click()
    people = page.locator("#resultats li")
    expect(people).to_have_count(2)
    expect(people.nth(0).locator("p").first).to_have_text("Claude Martin – Annulée")
    expect(people.nth(0)).to_contain_text("Annulée : pas de place réservée.")
    expect(people.nth(0).get_by_role("button")).to_have_count(0)
    expect(people.nth(1).locator("p").first).to_have_text(
        "Zoé Martin – DINUM – Confirmée – Arrivée à 10h00"
    )
    expect(people.nth(1).get_by_role("button")).to_have_text("Enregistrer l’arrivée")

    # Another door records an arrival: this phone's count follows within 15 s.
    count = page.locator("#arrivees")
    expect(count).to_have_text("1 arrivée sur 2 inscriptions confirmées (50\u00a0%)")
    with app.test_request_context():
        api.check_in(event, latecomer.public_id, other_door)
    page.clock.run_for(15_000)
    expect(count).to_have_text("2 arrivées sur 2 inscriptions confirmées (100\u00a0%)")


def test_the_camera_button_says_when_the_qr_decoder_cannot_load(live_server, page, event):
    make_user(live_server.app, ORGA)
    sign_in(page, live_server.url)
    accueil = f"{live_server.url}/organisation/{SLUG}/accueil"
    page.goto(accueil)
    native = page.evaluate(
        """async () => "BarcodeDetector" in window
             && (await BarcodeDetector.getSupportedFormats()).includes("qr_code")"""
    )
    if native:
        pytest.skip("this chromium reads QR codes itself: jsQR is never loaded")
    # Loaded with the page, before the camera is turned on (the network may be gone then).
    page.wait_for_function("() => typeof window.jsQR === 'function'")

    page.route("**/static/jsqr/**", lambda route: route.abort())
    page.reload()
    camera = page.get_by_role("button", name="Activer la caméra")
    camera.click()
    expect(page.locator("#camera-etat")).to_have_text(
        "Le lecteur de QR codes n’a pas pu être chargé (pas de connexion ?) : "
        "réessayez une fois la connexion revenue, ou utilisez la recherche par nom."
    )
    expect(camera).to_be_enabled()
