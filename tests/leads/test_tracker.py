"""The website tracker: snippet, CORS, consent, identification, rate limit, bad payloads,
and the tracker part of the tracking settings page."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client, override_settings

from leads import hooks, tracker
from leads.models import Campaign, Event, Lead, TrackingSettings, Visitor
from smarketing.tenancy.db import tenant_context

pytestmark = pytest.mark.django_db

SITE = "https://www.alpha.test"


def setup_tracker(org, **changes) -> TrackingSettings:
    with tenant_context(org.pk):
        tracking = tracker.tracking_settings_for(organization=org)
        values = {"allowed_domains": ["www.alpha.test", "localhost"], "require_consent": False}
        values.update(changes)
        TrackingSettings.objects.for_org(org).filter(pk=tracking.pk).update(**values)
        tracking.refresh_from_db()
        return tracking


@pytest.fixture
def alpha_tracker(trio) -> TrackingSettings:
    return setup_tracker(trio.alpha)


def vid() -> str:
    return uuid.uuid4().hex


def eid() -> str:
    return uuid.uuid4().hex[:20]


def page_view(url="https://www.alpha.test/pricing", **extra) -> dict:
    return {"id": eid(), "type": "page_view", "url": url, "title": "Pricing", **extra}


def collect(tracking, body, *, origin=SITE, content_type="text/plain", method="post", **kw):
    client = Client()
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Origin": origin} if origin else {}
    url = f"/t/{tracking.public_key}/collect"
    if method == "options":
        return client.options(url, headers={**headers, "Access-Control-Request-Method": "POST"})
    return getattr(client, method)(url, data=data, content_type=content_type, headers=headers, **kw)


def payload(visitor, *events, consent=None) -> dict:
    body = {"v": 1, "visitor_id": visitor, "events": list(events)}
    if consent is not None:
        body["consent"] = consent
    return body


# --- The snippet ------------------------------------------------------------------------


def test_the_snippet_is_served_with_its_key_and_small(client, alpha_tracker):
    response = client.get(f"/t/{alpha_tracker.public_key}.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert f"/t/{alpha_tracker.public_key}/collect" in body
    assert "NEEDS_CONSENT = false" in body
    assert "data-smarketing-identify" in body
    assert "{%" not in body and "{{" not in body
    assert len(response.content) < 5 * 1024


def test_the_snippet_says_when_consent_is_required(client, trio):
    tracking = setup_tracker(trio.alpha, require_consent=True)
    body = client.get(f"/t/{tracking.public_key}.js").content.decode()
    assert "NEEDS_CONSENT = true" in body


def test_unknown_or_disabled_tracker_is_404(client, trio):
    assert client.get("/t/pk_doesnotexist000.js").status_code == 404
    tracking = setup_tracker(trio.alpha, enabled=False)
    assert client.get(f"/t/{tracking.public_key}.js").status_code == 404
    response = collect(tracking, payload(vid(), page_view()))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- CORS -------------------------------------------------------------------------------


def test_an_allowed_origin_is_accepted_with_cors_headers(alpha_tracker, trio):
    response = collect(alpha_tracker, payload(vid(), page_view()))
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response
    with tenant_context(trio.alpha.pk):
        event = Event.objects.for_org(trio.alpha).get()
        assert event.source == "tracker" and event.type == "page_view"
        assert event.properties == {"title": "Pricing"}


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.test",
        "https://alpha.test",  # not www: exact host match
        "http://www.alpha.test",  # plain http outside localhost
        "https://www.alpha.test.evil.test",
        "null",
        "",
    ],
)
def test_other_origins_are_refused(alpha_tracker, trio, origin):
    response = collect(alpha_tracker, payload(vid(), page_view()), origin=origin)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_refused"
    assert "Access-Control-Allow-Origin" not in response
    assert "Origin" in response["Vary"]
    with tenant_context(trio.alpha.pk):
        assert not Event.objects.for_org(trio.alpha).exists()


def test_localhost_over_http_on_any_port(alpha_tracker):
    response = collect(alpha_tracker, payload(vid(), page_view()), origin="http://localhost:3000")
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_preflight(alpha_tracker):
    response = collect(alpha_tracker, None, method="options")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Origin" in response["Vary"]
    refused = collect(alpha_tracker, None, method="options", origin="https://evil.test")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


def test_origin_rules():
    row = TrackingSettings(allowed_domains=["www.alpha.test", "shop.alpha.test:8443", "127.0.0.1"])
    allowed = tracker.origin_allowed
    assert allowed(row, "https://www.alpha.test")
    assert allowed(row, "https://www.alpha.test:443")
    assert not allowed(row, "https://www.alpha.test:8443")
    assert allowed(row, "https://shop.alpha.test:8443")
    assert not allowed(row, "https://shop.alpha.test")
    assert allowed(row, "http://127.0.0.1:8000")
    assert not allowed(row, "http://localhost:8000")  # not listed
    assert not allowed(row, "ftp://www.alpha.test")
    assert not allowed(row, "https://user@www.alpha.test")
    assert not allowed(row, "https://www.alpha.test:99999")


def test_domains_are_normalized_and_checked():
    clean = tracker.clean_allowed_domains
    assert clean(["https://www.Alpha.test/path", "", "www.alpha.test", "localhost:3000"]) == [
        "www.alpha.test",
        "localhost:3000",
    ]
    assert clean(["café.fr"]) == ["xn--caf-dma.fr"]
    for bad in ["not a domain", "exemple", "a.b:0", "-x.fr"]:
        with pytest.raises(tracker.TrackerError):
            clean([bad])


# --- Consent ----------------------------------------------------------------------------


def test_consent_required_refuses_identifiers_without_consent(trio):
    tracking = setup_tracker(trio.alpha, require_consent=True)
    visitor = vid()
    for body in (payload(visitor, page_view()), payload(visitor, page_view(), consent=False)):
        response = collect(tracking, body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "consent_required"
        assert response["Access-Control-Allow-Origin"] == SITE  # the site can read why
    with tenant_context(trio.alpha.pk):
        assert not Visitor.objects.for_org(trio.alpha).exists()
        assert not Event.objects.for_org(trio.alpha).exists()

    response = collect(tracking, payload(visitor, page_view(), consent=True))
    assert response.status_code == 202
    with tenant_context(trio.alpha.pk):
        assert Visitor.objects.for_org(trio.alpha).get().anonymous_id == visitor


def test_consent_flag_is_not_needed_when_the_org_does_not_require_it(alpha_tracker):
    assert collect(alpha_tracker, payload(vid(), page_view())).status_code == 202


# --- Page views, UTM, identification -------------------------------------------------------


def test_identification_on_a_form_merges_earlier_page_views(alpha_tracker, trio):
    visitor = vid()
    landing = page_view(
        url="https://www.alpha.test/?utm_source=newsletter&utm_medium=email&utm_campaign=Spring+Launch",
        referrer="https://news.example/",
    )
    assert collect(alpha_tracker, payload(visitor, landing, page_view())).status_code == 202
    with tenant_context(trio.alpha.pk):
        assert not Lead.objects.for_org(trio.alpha).exists()
        assert Event.objects.for_org(trio.alpha).filter(lead=None).count() == 2
        first = Event.objects.for_org(trio.alpha).get(external_id=landing["id"])
        assert first.properties == {"title": "Pricing", "referrer": "https://news.example/"}
        campaign = Campaign.objects.for_org(trio.alpha).get(pk=first.campaign_id)
        assert campaign.utm_campaign == "Spring Launch"

    form = {
        "id": eid(),
        "type": "form_submit",
        "url": "https://www.alpha.test/contact",
        "email": "Claire@Exemple.fr",
        "form": "contact",
        "fields": {"first_name": "Claire", "company": "Exemple", "password": "nope"},
    }
    response = collect(alpha_tracker, payload(visitor, form))
    assert response.status_code == 202, response.content
    with tenant_context(trio.alpha.pk):
        lead = Lead.objects.for_org(trio.alpha).get()
        assert (lead.email, lead.first_name) == ("claire@exemple.fr", "Claire")
        events = Event.objects.for_org(trio.alpha).filter(lead=lead)
        assert events.count() == 3  # the two anonymous page views joined the lead
        assert Visitor.objects.for_org(trio.alpha).get(anonymous_id=visitor).lead_id == lead.pk
        submitted = events.get(type="form_submit")
        assert submitted.properties == {"form": "contact"}
        assert "password" not in json.dumps(submitted.properties)


def test_a_retried_request_counts_duplicates(alpha_tracker):
    body = payload(vid(), page_view(), page_view())
    assert collect(alpha_tracker, body).json() == {"accepted": 2, "duplicates": 0}
    assert collect(alpha_tracker, body).json() == {"accepted": 0, "duplicates": 2}


def test_json_content_type_and_custom_events(alpha_tracker, trio):
    custom = {"id": eid(), "type": "custom:pricing_slider", "properties": {"seats": 12}}
    response = collect(alpha_tracker, payload(vid(), custom), content_type="application/json")
    assert response.status_code == 202
    with tenant_context(trio.alpha.pk):
        assert Event.objects.for_org(trio.alpha).get().properties == {"seats": 12}


def test_a_bad_client_clock_falls_back_to_server_time(alpha_tracker, trio):
    response = collect(alpha_tracker, payload(vid(), page_view(ts=4_102_444_800_000)))  # 2100
    assert response.status_code == 202
    with tenant_context(trio.alpha.pk):
        assert Event.objects.for_org(trio.alpha).get().occurred_at.year < 2100


def test_events_of_another_org_key_never_land_in_alpha(alpha_tracker, trio):
    other = setup_tracker(trio.charlie_org, allowed_domains=["www.charlie.test"])
    response = collect(other, payload(vid(), page_view()), origin="https://www.charlie.test")
    assert response.status_code == 202
    # alpha's site cannot post to charlie's key either
    assert collect(other, payload(vid(), page_view())).status_code == 403
    with tenant_context(trio.alpha.pk):
        assert not Event.objects.for_org(trio.alpha).exists()
    with tenant_context(trio.charlie_org.pk):
        assert Event.objects.for_org(trio.charlie_org).count() == 1


# --- Rate limit -------------------------------------------------------------------------


def test_rate_limit_per_visitor_answers_429_with_retry_after(trio):
    tracking = setup_tracker(trio.alpha, rate_limit_per_minute=3)
    visitor = vid()
    assert collect(tracking, payload(visitor, page_view(), page_view())).status_code == 202
    assert collect(tracking, payload(visitor, page_view())).status_code == 202
    response = collect(tracking, payload(visitor, page_view()))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["Access-Control-Allow-Origin"] == SITE
    # another visitor still gets through
    assert collect(tracking, payload(vid(), page_view())).status_code == 202


def test_rate_limit_per_address_catches_rotating_visitor_ids(trio):
    tracking = setup_tracker(trio.alpha, rate_limit_per_minute=1)
    statuses = [collect(tracking, payload(vid(), page_view())).status_code for _ in range(11)]
    assert statuses[:10] == [202] * 10
    assert statuses[10] == 429


def test_rate_limit_without_redis_counts_in_process():
    limiter = tracker.FixedWindowLimiter()
    with override_settings(REDIS_URL=None):
        assert limiter.hit("k", cost=2, limit=3, now=120.0) == 0
        assert limiter.hit("k", cost=1, limit=3, now=130.0) == 0
        assert limiter.hit("k", cost=1, limit=3, now=150.0) == 30
        assert limiter.hit("k", cost=1, limit=3, now=180.0) == 0  # next window


def test_rate_limit_with_redis_down_falls_back(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    limiter = tracker.FixedWindowLimiter()
    assert limiter.hit("k", cost=1, limit=1, now=60.0) == 0
    assert limiter.hit("k", cost=1, limit=1, now=61.0) == 59


# --- Bad payloads: 4xx, never 500 ----------------------------------------------------------


def one(**event) -> str:
    """A request from a valid visitor carrying one event."""
    return json.dumps({"visitor_id": "v" * 20, "events": [{"id": "e1234567", **event}]})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", None),
        (json.dumps([1, 2]), None),
        (json.dumps({"visitor_id": "short", "events": [{}]}), "visitor_id"),
        (json.dumps({"visitor_id": "v" * 20, "events": []}), "events"),
        (json.dumps({"visitor_id": "v" * 20, "events": "x"}), "events"),
        (json.dumps({"visitor_id": "v" * 20, "events": [{"type": "page_view"}] * 51}), "events"),
        (json.dumps({"visitor_id": "v" * 20, "events": ["x"]}), "0"),
        (one(type="page_view", id="x"), "0"),
        (one(type="demo_request"), "0"),  # not a type the public tracker may claim
        (one(type="page_view", email="a@b.fr"), "0"),  # only forms identify
        (one(type="form_submit"), "0"),
        (one(type="form_submit", email="nope"), "0"),
        (one(type="page_view", url="javascript:alert(1)"), "0"),
        (one(type="page_view", properties={"a": 1}), "0"),
        (one(type="custom:x", properties={"a": "b" * 17000}), "0"),
        (one(type="custom:Bad Name"), "0"),
        (one(type="form_submit", email="a@b.fr", fields=["x"]), "0"),
    ],
)
def test_bad_payloads_are_400_with_fields(alpha_tracker, trio, body, field):
    response = collect(alpha_tracker, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    if field:
        assert field in error["fields"]
    with tenant_context(trio.alpha.pk):
        assert not Event.objects.for_org(trio.alpha).exists()


def test_too_large_and_wrong_method(alpha_tracker):
    assert collect(alpha_tracker, "x" * (65 * 1024)).status_code == 413
    assert collect(alpha_tracker, "", method="get").status_code == 405
    assert collect(alpha_tracker, "", method="put").status_code == 405


def test_collect_is_csrf_exempt(alpha_tracker):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/t/{alpha_tracker.public_key}/collect",
        data=json.dumps(payload(vid(), page_view())),
        content_type="text/plain",
        headers={"Origin": SITE},
    )
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers


# --- The settings page (tracker part) --------------------------------------------------------


def url(org, suffix=""):
    return f"/o/{org.slug}/settings/tracking/{suffix}"


def test_settings_page_for_the_owner(client_for, trio, django_assert_max_num_queries):
    alice = client_for(trio.alice)
    assert alice.get(url(trio.alpha)).status_code == 200  # creates the settings row
    with django_assert_max_num_queries(18):
        response = alice.get(url(trio.alpha))
    assert response.status_code == 200
    with tenant_context(trio.alpha.pk):
        tracking = TrackingSettings.objects.for_org(trio.alpha).get()
    assert tracking.require_consent is True and tracking.allowed_domains == []
    html = response.content.decode()
    assert f"/t/{tracking.public_key}.js" in html
    assert "smarketing('consent', true);" in html


def test_settings_are_saved(client_for, trio):
    alice = client_for(trio.alice)
    alice.get(url(trio.alpha))
    response = alice.post(
        url(trio.alpha),
        {
            "enabled": "on",
            "allowed_domains": "https://www.alpha.test/\nalpha.test\n",
            "rate_limit_per_minute": "30",
        },
    )
    assert response.status_code == 302
    with tenant_context(trio.alpha.pk):
        tracking = TrackingSettings.objects.for_org(trio.alpha).get()
    assert tracking.allowed_domains == ["www.alpha.test", "alpha.test"]
    assert (tracking.require_consent, tracking.rate_limit_per_minute) == (False, 30)


@pytest.mark.parametrize(
    "data",
    [
        {"allowed_domains": "not a domain", "rate_limit_per_minute": "30"},
        {"allowed_domains": "www.alpha.test", "rate_limit_per_minute": "0"},
        {"allowed_domains": "www.alpha.test", "rate_limit_per_minute": "many"},
    ],
)
def test_bad_settings_are_400_and_change_nothing(client_for, trio, data):
    alice = client_for(trio.alice)
    alice.get(url(trio.alpha))
    response = alice.post(url(trio.alpha), data)
    assert response.status_code == 400
    with tenant_context(trio.alpha.pk):
        tracking = TrackingSettings.objects.for_org(trio.alpha).get()
    assert tracking.allowed_domains == [] and tracking.rate_limit_per_minute == 120


def test_rotating_the_public_key(client_for, trio, client):
    tracking = setup_tracker(trio.alpha)
    old = tracking.public_key
    response = client_for(trio.alice).post(url(trio.alpha, "rotate-key/"))
    assert response.status_code == 302
    with tenant_context(trio.alpha.pk):
        tracking.refresh_from_db()
    assert tracking.public_key != old
    assert client.get(f"/t/{old}.js").status_code == 404
    assert client.get(f"/t/{tracking.public_key}.js").status_code == 200


def test_sales_rep_gets_403_and_outsider_404(client_for, trio):
    setup_tracker(trio.alpha)
    bob, charlie = client_for(trio.bob), client_for(trio.charlie)
    for path in ("", "rotate-key/"):
        assert bob.post(url(trio.alpha, path), {"rate_limit_per_minute": "1"}).status_code == 403
        assert charlie.post(url(trio.alpha, path)).status_code == 404
    assert bob.get(url(trio.alpha)).status_code == 403
    assert charlie.get(url(trio.alpha)).status_code == 404
    with tenant_context(trio.alpha.pk):
        assert TrackingSettings.objects.for_org(trio.alpha).get().rate_limit_per_minute == 120


def test_anonymous_is_sent_to_login(client, trio):
    response = client.get(url(trio.alpha))
    assert response.status_code == 302 and "/accounts/login" in response["Location"]


# --- In a browser: the real snippet on a (simulated) customer site ----------------------------


@contextlib.contextmanager
def customer_site(script_url: str) -> Iterator[str]:
    """A customer's website on another origin (a real local server: Chromium refuses a
    page it cannot place in an address space to call the loopback tracker)."""
    stub = (
        "<script>window.smarketing=window.smarketing||function(){"
        "(smarketing.q=smarketing.q||[]).push(arguments)};</script>"
    )
    pages = {
        "/pricing": "<title>Pricing</title><h1>Pricing</h1>"
        '<form data-smarketing-identify="demo" action="/thanks" method="get">'
        '<input type="email" name="email"><input name="company" data-smarketing-field="company">'
        '<input type="password" name="password"><button>Send</button></form>',
        # the cookie banner was answered on the previous page: the site says so again
        "/thanks": "<script>smarketing('consent', true);</script><title>Thanks</title>",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            html = f'<!doctype html><html><head>{stub}<script async src="{script_url}"></script>'
            html += f"</head><body>{body}</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("localhost", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(predicate, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_snippet_waits_for_consent_then_identifies_on_a_form(trio, page, live_server):
    tracking = setup_tracker(trio.alpha, require_consent=True, allowed_domains=["localhost"])

    def events():
        with tenant_context(trio.alpha.pk):
            return list(Event.objects.for_org(trio.alpha).order_by("occurred_at", "pk"))

    with customer_site(f"{live_server.url}/t/{tracking.public_key}.js") as site:
        page.goto(f"{site}/pricing?utm_source=newsletter&utm_campaign=launch")
        page.wait_for_function("window.__smarketing === true")
        page.wait_for_timeout(500)
        assert events() == []  # no consent yet: nothing sent…
        assert "smk_vid" not in page.evaluate("document.cookie")  # …and nothing stored
        assert page.evaluate("window.localStorage.getItem('smk_vid')") is None

        page.evaluate("smarketing('consent', true)")
        (view,) = _wait_for(events)  # the page view waiting in memory is sent
        visitor = page.evaluate("window.localStorage.getItem('smk_vid')")
        assert f"smk_vid={visitor}" in page.evaluate("document.cookie")
        assert view.type == "page_view" and view.lead_id is None
        assert view.properties["title"] == "Pricing" and view.campaign_id is not None

        page.fill("input[name=email]", "Nina@Exemple.fr")
        page.fill("input[name=company]", "Exemple")
        page.fill("input[name=password]", "secret")
        page.click("button")
        page.wait_for_url("**/thanks**")
        rows = _wait_for(lambda: len(events()) >= 3 and events())
        with tenant_context(trio.alpha.pk):
            lead = Lead.objects.for_org(trio.alpha).get()
            assert lead.email == "nina@exemple.fr"
            assert {e.type for e in rows} == {"page_view", "form_submit"}
            assert all(e.lead_id == lead.pk for e in rows)  # the anonymous view was merged
            assert Visitor.objects.for_org(trio.alpha).get().anonymous_id == visitor
            assert all("secret" not in json.dumps(e.properties) for e in rows)

        page.evaluate("smarketing('consent', false)")  # withdrawal forgets the visitor
        assert page.evaluate("window.localStorage.getItem('smk_vid')") is None
        assert "smk_vid=" not in page.evaluate("document.cookie")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_settings_page_screenshots(trio, page, live_server, screenshot):
    from django.conf import settings as django_settings

    trio.alice.language = "en"
    trio.alice.save()
    setup_tracker(
        trio.alpha, require_consent=True, allowed_domains=["www.alpha.test", "alpha.test"]
    )
    with tenant_context(trio.alpha.pk):
        hooks.webhook_endpoint_create(
            actor=trio.alice_membership,
            name="Webinar platform",
            default_type="webinar_registered",
            mapping={
                "events": "data.registrations",
                "fields": {"email": "attendee.email", "properties.webinar": "$.data.title"},
            },
        )
    client = Client()
    client.force_login(trio.alice)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": cookie.value,
                "url": live_server.url,
            }
        ]
    )
    page.goto(f"{live_server.url}/o/alpha/settings/tracking/")
    assert page.locator("h1").inner_text() == "Website tracking and webhooks"
    screenshot("tracking-settings")
    page.click("text=Webinar platform")
    page.fill(
        "#id_sample",
        json.dumps(
            {"data": {"title": "Scoring 101", "registrations": [{"attendee": {"email": "a@b.fr"}}]}}
        ),
    )
    page.click("text=Preview the events")
    page.locator("#mapping-preview pre").wait_for()
    assert "a@b.fr" in page.locator("#mapping-preview").inner_text()
    screenshot("tracking-webhook")
