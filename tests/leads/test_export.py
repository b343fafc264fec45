"""CSV export of the filtered lead list: content per filter, BOM and delimiter for
Excel, CSV-injection guard, round trip through the import, permissions, tenancy."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from leads import export, imports
from leads.models import Company, Lead, Stage
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def leads(trio, as_org):
    alpha = trio.alpha
    with as_org(alpha):
        acme = Company.objects.create(organization=alpha, name="Acme", domain="acme.fr")
        made = {
            "anne": Lead.objects.create(
                organization=alpha,
                email="anne@acme.fr",
                first_name="Anne",
                last_name="Martin",
                company=acme,
                country="FR",
                stage=Stage.MQL,
                hot=True,
                hot_since=timezone.now(),
                score=80,
                source=Lead.Source.WEBINAR,
                owner=trio.bob,
                consent_email=True,
            ),
            "marc": Lead.objects.create(
                organization=alpha,
                email="marc@globex.com",
                first_name="Marc",
                stage=Stage.MQL,
                score=40,
                source=Lead.Source.IMPORT,
                title='=HYPERLINK("http://evil")',
                phone="+33 6 12 34 56 78",
            ),
            "lea": Lead.objects.create(
                organization=alpha,
                email="lea@initech.io",
                first_name="Léa",
                stage=Stage.SAL,
                score=20,
                source=Lead.Source.WEBINAR,
                owner=trio.alice,
            ),
            "old": Lead.objects.create(
                organization=alpha, email="old@x.fr", stage=Stage.CUSTOMER, score=90
            ),
        }
    with as_org(trio.charlie_org):
        Lead.objects.create(organization=trio.charlie_org, email="secret@charlie.test")
    return made


@pytest.fixture
def alice_en(trio):
    trio.alice.language = "en"
    trio.alice.save(update_fields=["language"])
    return trio.alice


def _export(client, query="", org="alpha"):
    url = reverse("imports:export", kwargs={"org_slug": org})
    return client.get(f"{url}?{query}" if query else url)


def _rows(response, delimiter=","):
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))


def _emails(rows):
    return [row[0] for row in rows[1:]]


def test_export_filtered_content(trio, leads, client_for, alice_en):
    client = client_for(alice_en)
    response = _export(client, "delimiter=comma")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-alpha-')
    rows = _rows(response)
    header = rows[0]
    assert header[:6] == ["E-mail", "First name", "Last name", "Job title", "Company", "Website"]
    # The sales-queue order: hot first, then score; no lead of another organization.
    assert _emails(rows) == ["anne@acme.fr", "old@x.fr", "marc@globex.com", "lea@initech.io"]
    anne = dict(zip(header, rows[1], strict=True))
    assert anne["Company"] == "Acme" and anne["Website"] == "acme.fr"
    assert anne["Stage"] == "mql" and anne["Hot"] == "yes" and anne["Score"] == "80"
    assert anne["Owner"] == "bob@alpha.test"
    assert anne["E-mail consent"] == "yes"

    def emails(query):
        return _emails(_rows(_export(client, query + "&delimiter=comma")))

    assert emails("stage=mql") == ["anne@acme.fr", "marc@globex.com"]
    assert emails("stage=mql,sal&hot=false") == ["marc@globex.com", "lea@initech.io"]
    assert emails("stage=mql&stage=sal&ordering=score") == [
        "lea@initech.io",
        "marc@globex.com",
        "anne@acme.fr",
    ]
    assert emails("source=webinar") == ["anne@acme.fr", "lea@initech.io"]
    assert emails("q=globex") == ["marc@globex.com"]
    assert emails(f"owner={trio.bob.pk}") == ["anne@acme.fr"]
    assert emails("owner=me") == ["lea@initech.io"]
    assert emails("owner=none") == ["old@x.fr", "marc@globex.com"]
    # The queue page's own query string: tabs, "any stage", and no stage = MQL + SAL.
    assert emails("view=queue&tab=mine") == ["lea@initech.io"]
    assert emails("view=queue&hot=yes") == ["anne@acme.fr"]
    assert emails("view=queue") == ["anne@acme.fr", "marc@globex.com", "lea@initech.io"]
    assert len(emails("view=queue&stage=any")) == 4


def test_semicolon_by_default_in_french_and_on_request(trio, leads, client_for):
    trio.alpha.language = "fr"
    trio.alpha.save(update_fields=["language"])
    client = client_for(trio.alice)  # no language of her own: the organization's French
    rows = _rows(_export(client), delimiter=";")
    assert len(rows[0]) == len(export.COLUMNS) and len(rows) == 5
    rows = _rows(_export(client_for(trio.alice), "delimiter=tab"), delimiter="\t")
    assert len(rows[0]) == len(export.COLUMNS)
    alice_en_client = client_for(trio.alice)
    trio.alice.language = "en"
    trio.alice.save(update_fields=["language"])
    body = b"".join(_export(alice_en_client).streaming_content).decode("utf-8-sig")
    assert body.splitlines()[0].startswith("E-mail,First name,")
    assert _rows(_export(alice_en_client, "delimiter=semicolon"), delimiter=";")[0][1] == (
        "First name"
    )


def test_formulas_are_defused(trio, leads, client_for, alice_en):
    rows = _rows(_export(client_for(alice_en), "q=globex&delimiter=comma"))
    marc = dict(zip(rows[0], rows[1], strict=True))
    assert marc["Job title"] == '\'=HYPERLINK("http://evil")'
    assert marc["Phone"] == "+33 6 12 34 56 78"  # a phone number is data
    assert export.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert export.safe_cell("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert export.safe_cell("-12.5") == "-12.5"


def test_an_export_imports_back_with_every_column_detected(trio, leads, client_for, alice_en):
    body = b"".join(_export(client_for(alice_en), "delimiter=comma").streaming_content)
    text, encoding = imports.decode(body)
    assert encoding == "utf-8-sig"
    headers, _pos = imports.read_header(text, imports.sniff_delimiter(text))
    mapping = dict(zip(headers, imports.detect_mapping(headers), strict=True))
    assert mapping["E-mail"] == "email"
    assert mapping["Website"] == "company_domain"
    assert mapping["E-mail consent"] == "consent_email"
    assert mapping["utm_campaign"] == "utm_campaign"
    assert mapping["Stage"] == "" and mapping["Score"] == ""  # not importable
    # The defused formula comes back as it was.
    record = next(iter(imports.records(text, ",", pos=_pos, row=1)))
    assert imports._cell(["'=1+1"], 0) == "=1+1"
    assert record.cells[0] == "anne@acme.fr"


def test_export_streams_in_its_own_tenant_context(trio, leads, as_org):
    """The rows are read when the response is iterated, after the request's
    transaction (and its tenant setting) is over."""
    from django.http import QueryDict

    # Outside any tenant context, row-level security hides every lead…
    assert Lead.objects.for_org(trio.alpha).count() == 0
    # …and the export still reads its organization's, through a context of its own.
    filters = export.parse_filters(QueryDict(""), user_id=None)
    lines = list(export.export_rows(trio.alpha, filters, delimiter=","))
    assert len(lines) == 5


@pytest.mark.parametrize(
    "query",
    ["stage=nope", "owner=bob", "hot=maybe", "ordering=random", "delimiter=pipe", "tab=theirs"],
)
def test_bad_filters_are_a_400(trio, leads, client_for, query):
    response = _export(client_for(trio.alice), query)
    assert response.status_code == 400
    assert query.split("=")[0] in response.content.decode()


def test_permission_to_export(trio, leads, client_for):
    # A sales rep works the queue but does not take the database home.
    assert _export(client_for(trio.bob)).status_code == 403
    for role in (Role.MARKETER, Role.SALES_MANAGER):
        member = MembershipFactory(organization=trio.alpha, user=UserFactory(), role=role)
        assert _export(client_for(member.user)).status_code == 200
    viewer = MembershipFactory(organization=trio.alpha, user=UserFactory(), role=Role.VIEWER)
    assert _export(client_for(viewer.user)).status_code == 403


def test_charlie_gets_404(trio, leads, client_for):
    charlie = client_for(trio.charlie)
    assert _export(charlie).status_code == 404
    assert _export(charlie, "stage=mql").status_code == 404
    # His own export holds only his leads.
    assert _emails(_rows(_export(charlie, org="charlie"), delimiter=",")) == ["secret@charlie.test"]


def test_post_is_refused(trio, client_for):
    url = reverse("imports:export", kwargs={"org_slug": "alpha"})
    assert client_for(trio.alice).post(url).status_code == 405
