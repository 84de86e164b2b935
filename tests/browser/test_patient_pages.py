"""The patient's pages in a real Chromium, at a desktop and a phone width.

Uploads go in resumable pieces with a progress bar that can be cancelled; a connection that drops
mid-upload resumes where it stopped and the stored scan is byte-identical; no page is wider than
the screen. Screenshots are saved under test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from scans.models import ResumableUpload, Scan
from tests.support import studies
from tests.support.accounts import make_user
from tests.support.screens import shot
from tests.support.studies import processed_ct
from vault import get_vault

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
PIECE = 64 * 1024


@pytest.fixture(params=list(SIZES))
def size(request) -> str:
    return request.param


@pytest.fixture
def patient_page(watched_page, live_server, size):
    """A signed-in patient's browser at the given size."""
    user = make_user("viewer@example.org")
    client = Client()
    client.force_login(user)
    assert client.session[SESSION_KEY]
    width, height = SIZES[size]
    watched_page.set_viewport_size({"width": width, "height": height})
    watched_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    watched_page.user = user
    return watched_page


def assert_fits(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the screen"


def assert_only_gateway(page, live_server) -> None:
    origins, violations = page.watched
    assert origins <= {live_server.url.split("://", 1)[1]}
    assert violations == []


def study(tmp_path):
    """About 200 kB: four pieces of 64 kB."""
    path = tmp_path / "study.zip"
    path.write_bytes(studies.study_zip(6, size=128))
    return path


def small_pieces(page) -> None:
    page.evaluate(f"document.getElementById('upload-form').dataset.chunkSize = '{PIECE}'")


def test_a_dropped_connection_resumes_and_the_scan_is_identical(
    patient_page, live_server, tmp_path, size
):
    page = patient_page
    path = study(tmp_path)
    page.goto(f"{live_server.url}/scans/")
    assert_fits(page)
    small_pieces(page)
    patches: list[str] = []
    dropped: list[str] = []

    def drop_the_second_piece(route):
        patches.append(route.request.method)
        if len(patches) == 2 and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r"/scans/tus/[0-9a-f-]{36}/$"), drop_the_second_piece)
    page.set_input_files("#id_files", str(path))
    assert "1 file chosen" in page.inner_text("[data-chosen]")
    page.click("text=Upload and encrypt")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))
    shot(page, f"upload-done-{size}")

    scan = Scan.objects.get()
    assert get_vault().read_bytes(scan.files.get().vault_object) == path.read_bytes()
    pieces = -(-path.stat().st_size // PIECE)
    sent = [m for m in patches if m == "PATCH"]
    assert dropped and len(sent) <= pieces + 2, "resumed at the offset, not from the start"
    assert "Uploaded and encrypted" in page.inner_text("main")
    assert_only_gateway(page, live_server)


def test_a_slow_upload_shows_progress_and_can_be_cancelled(
    patient_page, live_server, tmp_path, size
):
    page = patient_page
    path = study(tmp_path)
    page.goto(f"{live_server.url}/scans/")
    small_pieces(page)
    held = []

    def hold_after_the_first_piece(route):
        if route.request.method == "PATCH" and held is not None and len(held) >= 1:
            held.append(route)  # never answered: the link is "slow"
            return
        if route.request.method == "PATCH":
            held.append(None)
        route.continue_()

    page.route(re.compile(r"/scans/tus/[0-9a-f-]{36}/$"), hold_after_the_first_piece)
    page.set_input_files("#id_files", str(path))
    page.click("text=Upload and encrypt")

    page.wait_for_function(
        "() => document.querySelector('[data-progress-text]').textContent.includes('%')"
    )
    assert page.is_disabled("#upload-form button[type=submit]")
    assert page.is_visible("[data-progress] progress")
    assert re.search(r"\d+% · .* of .* · ", page.inner_text("[data-progress-text]"))
    assert_fits(page)
    shot(page, f"upload-progress-{size}")

    with page.expect_response(lambda r: r.request.method == "DELETE") as discarded:
        page.click("text=Cancel upload")
    assert discarded.value.status == 204
    assert not page.is_disabled("#upload-form button[type=submit]")
    assert "cancelled" in page.inner_text("[data-chosen]")
    assert Scan.objects.count() == 0
    assert ResumableUpload.objects.count() == 0


def test_a_40_slice_ct_is_one_series_scrolled_and_windowed(
    patient_page, live_server, size, settings
):
    settings.DEID_CHUNK_IMAGES = 100
    page = patient_page
    scan = processed_ct(page.user)
    page.goto(f"{live_server.url}/scans/{scan.pk}/")
    viewers = page.locator("[data-viewer]")
    assert viewers.count() == 1
    viewer = viewers.first
    assert "40 images" in page.inner_text("#series-1 h2")
    assert page.locator("#status").bounding_box()["y"] < 300, "the status comes first"
    assert viewer.get_attribute("data-window") == "lung", "a chest CT opens in the lung window"
    assert "Slice 20 of 40" in viewer.inner_text()
    first = viewer.get_attribute("data-shown")

    page.locator("[data-viewer] canvas").focus()
    page.keyboard.press("ArrowDown")
    assert "Slice 21 of 40" in viewer.inner_text()
    page.locator("[data-viewer] canvas").hover()
    page.mouse.wheel(0, 120)
    assert "Slice 22 of 40" in viewer.inner_text()
    page.locator("[data-slice]").fill("40")
    assert "Slice 40 of 40" in viewer.inner_text()
    assert viewer.get_attribute("data-shown") != first

    with page.expect_response(lambda r: "/window/bone.png" in r.url) as bone:
        page.click("[data-window=bone]")
    assert bone.value.status == 200 and bone.value.headers["content-type"] == "image/png"
    assert viewer.get_attribute("data-window") == "bone"
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-viewer] canvas');"
        " const d = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;"
        " return d[0] > 0; }"
    )
    assert_fits(page)
    shot(page, f"viewer-{size}")

    page.goto(f"{live_server.url}/scans/")
    row = page.inner_text(".scan-row")
    assert "CT · Chest" in row and "1 series · 40 images" in row
    assert page.locator(".scan-row progress").count() == 0, "no bar on a finished scan"
    page.wait_for_function(
        "() => { const img = document.querySelector('.scan-row img');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    assert_fits(page)
    shot(page, f"scans-list-{size}")
    assert_only_gateway(page, live_server)


def test_error_pages_keep_the_layout_and_fit_the_screen(patient_page, live_server, size):
    page = patient_page
    response = page.goto(f"{live_server.url}/scans/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    assert page.is_visible("header.top")
    assert page.is_visible("text=Go to the start page")
    assert_fits(page)
    shot(page, f"error-404-{size}")


def test_asking_picks_a_window_per_series_and_every_page_fits(
    patient_page, live_server, size, settings
):
    import json

    from scans.models import ConsentRequest
    from tests.support.stored import endpoint

    settings.DEID_CHUNK_IMAGES = 100
    page = patient_page
    endpoint()
    scan = processed_ct(page.user, slices=6)
    page.goto(f"{live_server.url}/scans/{scan.pk}/consent/")
    question = page.locator("#question").bounding_box()
    assert question["y"] + question["height"] < page.viewport_size["height"], "no scrolling to ask"
    assert page.is_checked("input[name=endpoint]"), "the only service is chosen for you"
    assert page.input_value("#window-1") == "lung", "a chest CT is sent in the lung window"
    page.select_option("#window-1", "bone")
    page.fill("#question", "Is the spine normal?")
    assert_fits(page)
    shot(page, f"ask-{size}")

    page.click("text=Review what would be sent")
    page.wait_for_url(re.compile(r"/consent/[0-9a-f-]{36}/$"))
    manifest = json.loads(ConsentRequest.objects.get().manifest)
    assert {item["window"] for item in manifest["images"]} == {"bone"}
    assert "Bone window" in page.inner_text("main")
    assert_fits(page)
    shot(page, f"consent-{size}")
    assert_only_gateway(page, live_server)


def test_after_closing_the_page_the_same_file_resumes_where_it_stopped(
    patient_page, live_server, tmp_path, size
):
    page = patient_page
    path = study(tmp_path)
    page.goto(f"{live_server.url}/scans/")
    small_pieces(page)
    pieces: list[int] = []

    def lose_the_link_after_one_piece(route):
        if route.request.method == "PATCH":
            pieces.append(int(route.request.headers["upload-offset"]))
            if len(pieces) > 1:
                return  # never answered: the laptop lid closes here
        route.continue_()

    page.route(re.compile(r"/scans/tus/[0-9a-f-]{36}/$"), lose_the_link_after_one_piece)
    page.set_input_files("#id_files", str(path))
    second = "/scans/tus/"
    with page.expect_request(
        lambda r: (
            second in r.url and r.method == "PATCH" and r.headers.get("upload-offset") == str(PIECE)
        )
    ):
        page.click("text=Upload and encrypt")
    assert ResumableUpload.objects.get().offset == PIECE

    page.unroute(re.compile(r"/scans/tus/[0-9a-f-]{36}/$"))
    page.reload()
    small_pieces(page)
    resumed_at: list[str] = []
    page.on(
        "request",
        lambda r: (
            resumed_at.append(r.headers.get("upload-offset", "")) if r.method == "PATCH" else None
        ),
    )
    page.set_input_files("#id_files", str(path))
    stored = ResumableUpload.objects.get().offset
    page.click("text=Upload and encrypt")
    page.wait_for_url(re.compile(r"/scans/[0-9a-f-]{36}/$"))

    assert stored >= PIECE
    assert resumed_at[0] == str(stored), "the second visit carried on where the server stood"
    scan = Scan.objects.get()
    assert get_vault().read_bytes(scan.files.get().vault_object) == path.read_bytes()


def test_a_multi_frame_image_is_stepped_through_frame_by_frame(patient_page, live_server, size):
    from tests.support.studies import processed_multiframe

    page = patient_page
    scan = processed_multiframe(page.user, frames=6)
    frames_loaded: dict[str, int] = {}
    page.on("response", lambda r: frames_loaded.update(
        {r.url.split("frame=")[1]: r.status} if "frame=" in r.url else {}))
    page.goto(f"{live_server.url}/scans/{scan.pk}/")
    viewer = page.locator("[data-viewer]").first
    assert "Frame 3 of 6" in viewer.inner_text(), "it opens on the middle frame"

    page.locator("[data-viewer] canvas").focus()
    page.keyboard.press("ArrowDown")
    assert "Frame 4 of 6" in viewer.inner_text()
    assert viewer.get_attribute("data-src").endswith("frame=3")
    page.wait_for_function(
        "() => { const c = document.querySelector('[data-viewer] canvas');"
        " const d = c.getContext('2d').getImageData(c.width / 2, 0, 1, c.height).data;"
        " return d.some((v, i) => i % 4 === 0 && v > 200); }"
    )
    assert frames_loaded.get("3") == 200
    page.keyboard.press("End")
    assert "Frame 6 of 6" in viewer.inner_text()
    assert viewer.get_attribute("data-frame") == "5"
    page.locator("[data-slice]").fill("1")
    assert "Frame 1 of 6" in viewer.inner_text()
    assert_fits(page)
    shot(page, f"viewer-frames-{size}")
    assert_only_gateway(page, live_server)


def test_a_status_change_is_announced_and_the_page_reloads_only_for_a_new_stage(
    patient_page, live_server, size
):
    from scans.models import Status
    from tests.support.stored import stored_scan

    page = patient_page
    scan = stored_scan(page.user, status=Status.QUEUED).scan
    page.goto(f"{live_server.url}/scans/{scan.pk}/")
    label = page.locator("[data-field=status_label]")
    assert label.get_attribute("aria-live") == "polite"
    page.evaluate("window.stillTheSamePage = true")
    page.locator("a.button.danger").focus()

    Scan.objects.filter(pk=scan.pk).update(status=Status.DEIDENTIFYING)
    page.wait_for_function(
        "() => document.querySelector('[data-field=status_label]').textContent"
        " === 'De-identifying'"
    )
    assert page.evaluate("window.stillTheSamePage === true"), "announced, not reloaded"

    Scan.objects.filter(pk=scan.pk).update(status=Status.READY_FOR_REVIEW)
    page.wait_for_selector("#status a[href$='/consent/']")
    assert page.evaluate("window.stillTheSamePage === undefined"), "the review needs the page"
    assert page.evaluate("document.activeElement.textContent") == "Delete scan…", (
        "the focus stays where it was"
    )
