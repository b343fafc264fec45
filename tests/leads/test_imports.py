"""CSV import: header detection, decoding, the validation report of a file with broken
rows, the run task (chunks, idempotency, fill vs overwrite), the pages, permissions and
tenancy. Real PostgreSQL with row-level security in force."""

from __future__ import annotations

import codecs

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from leads import import_tasks, imports
from leads.models import Company, ImportJob, Lead, LifecycleTransition, Stage
from smarketing.tenancy.permissions import PermissionDenied, Role
from tests.factories import MembershipFactory, UserFactory

BROKEN = (
    "E-mail,Prénom,Nom,Société,Site web,Pays,Poste\n"
    "anne@acme.fr,Anne,Martin,Acme,https://www.acme.fr/contact,FR,DSI\n"  # row 2: ok
    "not-an-email,Paul,Durand,Acme,acme.fr,FR,\n"  # row 3: bad e-mail
    ",Lucie,Petit,Globex,globex.com,BE,\n"  # row 4: missing e-mail
    "marc@globex.com,Marc,Leroy,Globex,globex.com,France,CTO\n"  # row 5: bad country
    "\n"  # row 6: blank, not counted
    "ANNE@acme.fr,,,,,,Directrice SI\n"  # row 7: duplicate of row 2 (warning)
    "jean@initech.io,Jean,Dupont,Initech,initech.io,de,CEO\n"  # row 8: ok, existing lead
)


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the source language); pages follow the user's
    language, which is English for the marketer below."""
    with translation.override("en"):
        yield


@pytest.fixture
def marketer(trio):
    user = UserFactory(email="mia@alpha.test", full_name="Mia Bernard", language="en")
    return MembershipFactory(organization=trio.alpha, user=user, role=Role.MARKETER)


@pytest.fixture
def upload(as_org):
    def make(org, actor, text: str | bytes, *, filename="leads.csv", delimiter=""):
        raw = text.encode("utf-8") if isinstance(text, str) else text
        with as_org(org):
            return imports.import_upload(
                actor=actor, organization=org, filename=filename, raw=raw, delimiter=delimiter
            )

    return make


@pytest.fixture
def validated(upload, as_org):
    def make(org, actor, text, *, overwrite=False, columns=None, start=False, **kwargs):
        job = upload(org, actor, text, **kwargs)
        with as_org(org):
            cols = columns or imports.job_columns(job)
            imports.import_validate(actor=actor, job=job, columns=cols, overwrite=overwrite)
            job.refresh_from_db()
            if start:  # queued; the on-commit dispatch never fires inside a test
                assert imports.import_start(actor=actor, job=job)
                job.refresh_from_db()
        return job

    return make


@pytest.fixture
def queued(validated):
    return lambda *args, **kwargs: validated(*args, start=True, **kwargs)


@pytest.fixture
def dispatched(monkeypatch):
    calls: list[tuple] = []
    monkeypatch.setattr(import_tasks.run_import, "delay", lambda *args: calls.append(args))
    return calls


def _lead(org, as_org, **fields) -> Lead:
    with as_org(org):
        return Lead.objects.create(organization=org, **fields)


def _get(org, as_org, job) -> ImportJob:
    with as_org(org):
        return ImportJob.objects.for_org(org).get(pk=job.pk)


def _leads(org, as_org) -> dict[str, Lead]:
    with as_org(org):
        return {lead.email: lead for lead in Lead.objects.for_org(org).select_related("company")}


# --- Header detection and reading -------------------------------------------------------


def test_headers_detected_in_french():
    headers = [
        "Adresse e-mail",
        "Prénom",
        "Nom",
        "Société",
        "Site web",
        "Fonction",
        "Téléphone",
        "Pays",
        "Source",
        "utm_campaign",
        "Consentement",
        "Commentaire",
    ]
    assert imports.detect_mapping(headers) == [
        "email",
        "first_name",
        "last_name",
        "company",
        "company_domain",
        "title",
        "phone",
        "country",
        "source",
        "utm_campaign",
        "consent_email",
        "",
    ]
    assert imports.detect_mapping(["Courriel", "Entreprise", "Domaine", "Poste"]) == [
        "email",
        "company",
        "company_domain",
        "title",
    ]


def test_headers_detected_in_english():
    headers = [
        "First Name",
        "Last Name",
        "Email Address",
        "Company",
        "Website",
        "Job Title",
        "Phone",
        "Country",
        "UTM Source",
        "Notes",
    ]
    assert imports.detect_mapping(headers) == [
        "first_name",
        "last_name",
        "email",
        "company",
        "company_domain",
        "title",
        "phone",
        "country",
        "utm_source",
        "",
    ]


def test_a_field_is_detected_once_and_mail_like_headers_fall_back_to_email():
    assert imports.detect_mapping(["Email", "E-mail"]) == ["email", ""]
    assert imports.detect_mapping(["Nom", "E-mail du contact"]) == ["last_name", "email"]


def test_encodings_are_detected():
    text = "Prénom;Société\nHélène;Café €\n"
    assert imports.decode(text.encode("utf-8")) == (text, "utf-8")
    assert imports.decode(codecs.BOM_UTF8 + text.encode("utf-8")) == (text, "utf-8-sig")
    assert imports.decode(text.encode("cp1252")) == (text, "latin-1")
    plain = text.replace(" €", "")
    assert imports.decode(plain.encode("latin-1")) == (plain, "latin-1")
    assert imports.decode(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == (text, "utf-16")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(delimiter):
    rows = [["email", "first_name", "company"], ["a@b.fr", "Ann", "Acme, Inc"], ["c@d.fr", "", "X"]]
    text = "\n".join(delimiter.join(f'"{c}"' if "," in c else c for c in r) for r in rows)
    assert imports.sniff_delimiter(text + "\n") == delimiter
    assert imports.sniff_delimiter("email\na@b.fr\n") == ","


def test_quoted_newlines_keep_spreadsheet_row_numbers():
    text = 'email,title\na@b.fr,"two\nlines"\n\nc@d.fr,x\n'
    headers, pos = imports.read_header(text, ",")
    found = list(imports.records(text, ",", pos=pos, row=1))
    assert headers == ["email", "title"]
    assert [(r.row, r.cells) for r in found] == [
        (2, ["a@b.fr", "two\nlines"]),
        (4, ["c@d.fr", "x"]),
    ]
    # Each record knows where the next one starts: a later chunk resumes from there.
    resumed = list(imports.records(text, ",", pos=found[0].end, row=found[0].row))
    assert [r.row for r in resumed] == [4]


# --- The validation report ----------------------------------------------------------------


def test_broken_rows_are_reported_with_row_and_column(trio, marketer, validated, as_org):
    _lead(trio.alpha, as_org, email="Jean@Initech.io", first_name="Jean")
    job = validated(trio.alpha, marketer, BROKEN)
    errors = [(i["row"], i["column"], i["level"]) for i in job.errors]
    assert errors == [
        (3, "E-mail", "error"),
        (4, "E-mail", "error"),
        (5, "Pays", "error"),
        (7, "E-mail", "warning"),
    ]
    messages = {i["row"]: i["error"] for i in job.errors}
    assert "not-an-email" in messages[3]
    assert "France" in messages[5]
    assert "row 2" in messages[7]
    assert job.mapping["report"] == {
        "rows": 6,
        "valid": 3,
        "invalid": 3,
        "warnings": 1,
        "new": 1,  # anne (twice in the file)
        "existing": 1,  # jean, whatever the case of the e-mail
        "issues": 4,
    }
    assert job.status == ImportJob.Status.VALIDATED
    assert job.total_rows == 6


def test_mapping_without_email_is_refused(trio, marketer, upload, as_org):
    job = upload(trio.alpha, marketer, BROKEN)
    with as_org(trio.alpha), pytest.raises(imports.CsvImportError) as caught:
        imports.import_validate(
            actor=marketer, job=job, columns=["", "first_name"], overwrite=False
        )
    assert "__all__" in caught.value.fields
    with as_org(trio.alpha), pytest.raises(imports.CsvImportError) as caught:
        imports.import_validate(
            actor=marketer, job=job, columns=["email", "email"], overwrite=False
        )
    assert "col_1" in caught.value.fields


def test_values_are_cleaned(trio, marketer, validated, as_org):
    job = validated(
        trio.alpha,
        marketer,
        "email,website,country,source,consent,title\n"
        "a@b.fr,HTTP://WWW.Acme.FR/about?x=1,fr,Salon,oui,"
        + "x" * 200
        + "\nc@d.fr,not a domain,,Webinar,peut-être,\n",
        columns=["email", "company_domain", "country", "source", "consent_email", "title"],
    )
    with as_org(trio.alpha):
        fields, rows = imports.preview(job, imports.job_columns(job))
    first, second = rows
    values = {f.name: cell.value for f, cell in zip(fields, first.cells, strict=True)}
    assert values["company_domain"] == "acme.fr"
    assert values["country"] == "FR"
    assert values["source"] == Lead.Source.OTHER  # unknown source: warned, "other"
    assert len(values["title"]) == 150
    assert {i.level for i in first.issues} == {"warning"}
    assert first.valid
    assert not second.valid
    assert {i.column for i in second.issues} == {"website", "consent"}
    cells = {f.name: cell for f, cell in zip(fields, second.cells, strict=True)}
    assert cells["source"].value == Lead.Source.WEBINAR
    # A refused value is shown as it is in the file, marked.
    assert (cells["company_domain"].value, cells["company_domain"].bad) == ("not a domain", True)
    assert not cells["country"].bad and cells["country"].value == ""


# --- The run ------------------------------------------------------------------------------


def test_run_creates_and_updates_leads(trio, marketer, queued, as_org):
    existing = _lead(
        trio.alpha, as_org, email="jean@initech.io", first_name="Jean-Pierre", source="website"
    )
    job = queued(trio.alpha, marketer, BROKEN)

    assert import_tasks.run_import(trio.alpha.pk, job.pk) is None  # one chunk: finished

    job = _get(trio.alpha, as_org, job)
    assert job.status == ImportJob.Status.DONE
    assert job.progress == 100
    assert (job.processed_rows, job.total_rows) == (6, 6)
    assert (job.created_leads, job.updated_leads, job.skipped_rows) == (1, 1, 3)
    assert job.started_at and job.finished_at

    leads = _leads(trio.alpha, as_org)
    assert set(leads) == {"anne@acme.fr", "jean@initech.io"}
    anne = leads["anne@acme.fr"]
    assert (anne.first_name, anne.last_name, anne.country) == ("Anne", "Martin", "FR")
    assert anne.title == "DSI"  # the duplicate row only fills empty fields
    assert anne.source == Lead.Source.IMPORT
    assert anne.stage == Stage.LEAD
    assert anne.company.domain == "acme.fr" and anne.company.name == "Acme"
    assert anne.rescore_requested_at is not None
    jean = leads["jean@initech.io"]
    assert jean.pk == existing.pk
    assert jean.first_name == "Jean-Pierre"  # filled only when empty: kept
    assert (jean.last_name, jean.title, jean.country) == ("Dupont", "CEO", "DE")
    assert jean.source == "website"
    assert jean.company.domain == "initech.io"
    assert jean.rescore_requested_at is not None
    with as_org(trio.alpha):
        transition = LifecycleTransition.objects.for_org(trio.alpha).get(lead=anne)
        assert Company.objects.for_org(trio.alpha).count() == 2
    assert (transition.from_stage, transition.to_stage) == ("", Stage.LEAD)
    assert transition.by == marketer.user
    assert transition.reason == "imported"  # a code, shown translated (SYSTEM_REASONS)
    # The report stays on the job for the summary page.
    assert [i["row"] for i in job.errors] == [3, 4, 5, 7]


def test_overwrite_replaces_non_empty_values_but_empty_cells_erase_nothing(
    trio, marketer, queued, as_org
):
    _lead(trio.alpha, as_org, email="jean@initech.io", first_name="Jean", title="CTO", phone="01")
    job = queued(
        trio.alpha,
        marketer,
        "email,first name,job title,phone,source\njean@initech.io,Jean-Paul,,,partner\n",
        overwrite=True,
    )
    import_tasks.run_import(trio.alpha.pk, job.pk)
    jean = _leads(trio.alpha, as_org)["jean@initech.io"]
    assert (jean.first_name, jean.title, jean.phone, jean.source) == (
        "Jean-Paul",
        "CTO",
        "01",
        "partner",
    )


def test_consent_is_recorded_but_never_given_back_after_unsubscribe(trio, marketer, queued, as_org):
    from django.utils import timezone

    _lead(trio.alpha, as_org, email="gone@x.fr", unsubscribed_at=timezone.now())
    job = queued(
        trio.alpha, marketer, "Courriel;Consentement\nnew@x.fr;Oui\ngone@x.fr;oui\nno@x.fr;non\n"
    )
    assert job.delimiter == ";"
    import_tasks.run_import(trio.alpha.pk, job.pk)
    leads = _leads(trio.alpha, as_org)
    assert leads["new@x.fr"].consent_email and leads["new@x.fr"].consent_at
    assert not leads["gone@x.fr"].consent_email
    assert not leads["no@x.fr"].consent_email and leads["no@x.fr"].consent_at is None


def test_a_mapped_source_column_sets_the_source_of_new_leads(trio, marketer, queued, as_org):
    job = queued(trio.alpha, marketer, "email,source\na@x.fr,Salon\nb@x.fr,webinar\nc@x.fr,\n")
    import_tasks.run_import(trio.alpha.pk, job.pk)
    leads = _leads(trio.alpha, as_org)
    assert leads["a@x.fr"].source == Lead.Source.OTHER
    assert leads["b@x.fr"].source == Lead.Source.WEBINAR
    assert leads["c@x.fr"].source == Lead.Source.IMPORT


def test_latin1_semicolon_file(trio, marketer, queued, as_org):
    text = "Courriel;Prénom;Société;Téléphone\nhelene@cafe.fr;Hélène;Café Crème;+33 6 12 34 56 78\n"
    job = queued(trio.alpha, marketer, text.encode("cp1252"), filename="export-excel.csv")
    assert job.delimiter == ";"
    assert job.mapping["encoding"] == "latin-1"
    assert job.mapping["columns"] == ["email", "first_name", "company", "phone"]
    import_tasks.run_import(trio.alpha.pk, job.pk)
    helene = _leads(trio.alpha, as_org)["helene@cafe.fr"]
    assert helene.first_name == "Hélène"
    assert helene.company.name == "Café Crème"
    assert helene.phone == "+33 6 12 34 56 78"


def test_running_twice_does_nothing_the_second_time(trio, marketer, queued, as_org):
    job = queued(trio.alpha, marketer, BROKEN)
    import_tasks.run_import(trio.alpha.pk, job.pk)
    first = _get(trio.alpha, as_org, job)
    assert import_tasks.run_import(trio.alpha.pk, job.pk) is None
    again = _get(trio.alpha, as_org, job)
    assert (again.status, again.processed_rows, again.created_leads, again.updated_leads) == (
        first.status,
        first.processed_rows,
        first.created_leads,
        first.updated_leads,
    )
    assert again.finished_at == first.finished_at
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).count() == 2


def test_a_job_that_was_not_started_is_not_run(trio, marketer, validated, as_org):
    job = validated(trio.alpha, marketer, BROKEN)  # validated, not queued
    assert import_tasks.run_import(trio.alpha.pk, job.pk) is None
    assert _get(trio.alpha, as_org, job).status == ImportJob.Status.VALIDATED
    # Another organization's id finds nothing under row-level security.
    with as_org(trio.alpha):
        imports.import_start(actor=marketer, job=job)
    assert import_tasks.run_import(trio.charlie_org.pk, job.pk) is None
    assert _get(trio.alpha, as_org, job).status == ImportJob.Status.QUEUED


def test_chunks_commit_progress_and_a_replayed_chunk_is_done_once(
    trio, marketer, validated, as_org, monkeypatch, dispatched, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    rows = "".join(f"lead{i}@x.fr,Lead {i}\n" for i in range(5))
    job = validated(trio.alpha, marketer, "email,first name\n" + rows + "lead0@x.fr,Again\n")
    with as_org(trio.alpha), django_capture_on_commit_callbacks(execute=True):
        assert imports.import_start(actor=marketer, job=job)
        assert not imports.import_start(actor=marketer, job=job)  # a double click
    assert dispatched == [(trio.alpha.pk, job.pk)]

    progress = []
    cursor = None
    for _chunk in range(3):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            next_cursor = import_tasks.run_import(trio.alpha.pk, job.pk, cursor)
        state = _get(trio.alpha, as_org, job)
        progress.append(state.progress)
        # The same chunk delivered again (acks_late redelivery) changes nothing.
        assert import_tasks.run_import(trio.alpha.pk, job.pk, cursor) is None
        again = _get(trio.alpha, as_org, job)
        assert (again.processed_rows, again.created_leads) == (
            state.processed_rows,
            state.created_leads,
        )
        cursor = next_cursor
        if cursor is None:
            assert callbacks == []
            break
        assert dispatched[-1] == (trio.alpha.pk, job.pk, cursor)
    assert progress == [33, 66, 100]
    job = _get(trio.alpha, as_org, job)
    assert (job.status, job.created_leads, job.updated_leads) == ("done", 5, 0)
    leads = _leads(trio.alpha, as_org)
    assert len(leads) == 5
    assert leads["lead0@x.fr"].first_name == "Lead 0"  # the later duplicate fills only


def test_an_unexpected_error_fails_the_job_instead_of_leaving_it_running(
    trio, marketer, queued, as_org, monkeypatch
):
    job = queued(trio.alpha, marketer, BROKEN)

    def boom(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports, "write_leads", boom)
    assert import_tasks.run_import(trio.alpha.pk, job.pk) is None
    job = _get(trio.alpha, as_org, job)
    assert job.status == ImportJob.Status.FAILED
    assert job.errors[-1]["row"] is None
    with as_org(trio.alpha):
        assert not Lead.objects.for_org(trio.alpha).exists()  # the chunk rolled back


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"email,name\n", "no rows"),
        (b"PK\x03\x04\x14\x00binary", "Excel"),
        (b"email\x00\x00\x00", "not a text"),
    ],
)
def test_bad_files_are_refused(trio, marketer, upload, raw, message):
    with pytest.raises(imports.CsvImportError) as caught:
        upload(trio.alpha, marketer, raw)
    assert message in caught.value.message


# --- The pages ------------------------------------------------------------------------------


def _url(name, org="alpha", **kwargs):
    return reverse(f"imports:{name}", kwargs={"org_slug": org, **kwargs})


def test_the_import_pages_from_upload_to_summary(
    trio, marketer, client_for, as_org, dispatched, django_capture_on_commit_callbacks
):
    _lead(trio.alpha, as_org, email="jean@initech.io")
    client = client_for(marketer.user)
    assert client.get(_url("list")).status_code == 200
    assert client.get(_url("upload")).status_code == 200

    csv_file = SimpleUploadedFile("salon.csv", BROKEN.encode("utf-8"), content_type="text/csv")
    response = client.post(_url("upload"), {"file": csv_file, "delimiter": ""})
    assert response.status_code == 302
    with as_org(trio.alpha):
        job = ImportJob.objects.for_org(trio.alpha).get()
    assert response["Location"] == _url("detail", job_id=job.pk)
    assert job.created_by == marketer.user

    mapping_page = client.get(_url("detail", job_id=job.pk))
    assert mapping_page.status_code == 200
    html = mapping_page.content.decode()
    assert 'name="col_0"' in html and '<option value="email" selected>' in html
    assert "anne@acme.fr" in html  # the preview
    assert "Validation report" not in html  # not checked yet

    columns = {f"col_{i}": name for i, name in enumerate(job.mapping["columns"])}
    preview = client.post(
        _url("preview", job_id=job.pk), {**columns, "col_6": ""}, headers={"HX-Request": "true"}
    )
    assert preview.status_code == 200
    fragment = preview.content.decode()
    assert 'id="preview"' in fragment and "<html" not in fragment
    assert "DSI" not in fragment  # the title column is ignored now

    response = client.post(_url("detail", job_id=job.pk), columns)
    assert response.status_code == 302
    report = client.get(_url("detail", job_id=job.pk)).content.decode()
    assert "Validation report" in report
    assert "not-an-email" in report and "France" in report
    assert _url("start", job_id=job.pk) in report

    csv_report = client.get(_url("report", job_id=job.pk))
    body = b"".join(csv_report.streaming_content).decode("utf-8-sig")
    assert body.splitlines()[1].startswith("3,E-mail,error,")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("start", job_id=job.pk))
    assert response.status_code == 302
    assert dispatched == [(trio.alpha.pk, job.pk)]

    partial = client.get(_url("detail", job_id=job.pk), headers={"HX-Request": "true"})
    fragment = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in fragment
    assert 'hx-trigger="every 1s"' in fragment and 'aria-valuenow="0"' in fragment

    import_tasks.run_import(*dispatched[0])
    partial = client.get(_url("detail", job_id=job.pk), headers={"HX-Request": "true"})
    fragment = partial.content.decode()
    assert "hx-trigger" not in fragment  # done: polling stops
    assert 'aria-valuenow="100"' in fragment
    assert "Import finished" in fragment
    assert "not-an-email" in fragment  # the problems stay listed

    listing = client.get(_url("list")).content.decode()
    assert "salon.csv" in listing


def test_bad_input_gets_a_4xx(trio, marketer, client_for, upload):
    client = client_for(marketer.user)
    assert client.post(_url("upload"), {}).status_code == 400
    wrong = SimpleUploadedFile("leads.xlsx", b"PK\x03\x04", content_type="application/zip")
    assert client.post(_url("upload"), {"file": wrong}).status_code == 400
    header_only = SimpleUploadedFile("leads.csv", b"email\n", content_type="text/csv")
    response = client.post(_url("upload"), {"file": header_only})
    assert response.status_code == 400 and "no rows" in response.content.decode()

    job = upload(trio.alpha, marketer, BROKEN)
    response = client.post(_url("detail", job_id=job.pk), {"col_0": "", "col_1": "first_name"})
    assert response.status_code == 400
    assert "Map one column to the e-mail" in response.content.decode()
    assert client.post(_url("start", job_id=job.pk)).status_code == 409  # not checked yet
    assert client.get(_url("start", job_id=job.pk)).status_code == 405
    assert client.get(_url("detail", job_id=987654)).status_code == 404


def test_the_upload_limit(trio, marketer, client_for, monkeypatch):
    from leads import import_forms

    monkeypatch.setattr(import_forms, "MAX_UPLOAD_BYTES", 10)
    big = SimpleUploadedFile("leads.csv", b"email\na@b.fr\nc@d.fr\n", content_type="text/csv")
    response = client_for(marketer.user).post(_url("upload"), {"file": big})
    assert response.status_code == 400
    assert "larger than" in response.content.decode()


def test_a_sales_rep_cannot_import(trio, marketer, upload, client_for):
    job = upload(trio.alpha, marketer, BROKEN)
    bob = client_for(trio.bob)
    for name, kwargs in [("list", {}), ("upload", {}), ("detail", {"job_id": job.pk})]:
        assert bob.get(_url(name, **kwargs)).status_code == 403
    assert bob.get(_url("report", job_id=job.pk)).status_code == 403
    for name in ("detail", "preview", "start"):
        assert bob.post(_url(name, job_id=job.pk), {"col_0": "email"}).status_code == 403
    csv_file = SimpleUploadedFile("x.csv", b"email\na@b.fr\n", content_type="text/csv")
    assert bob.post(_url("upload"), {"file": csv_file}).status_code == 403
    with pytest.raises(PermissionDenied):
        upload(trio.alpha, trio.bob_membership, BROKEN)


def test_charlie_gets_404_on_every_import_url_of_alpha(trio, marketer, upload, client_for):
    job = upload(trio.alpha, marketer, BROKEN)
    charlie = client_for(trio.charlie)
    urls = [
        _url("list"),
        _url("upload"),
        _url("detail", job_id=job.pk),
        _url("report", job_id=job.pk),
        _url("export"),
    ]
    for url in urls:
        assert charlie.get(url).status_code == 404, url
    for name in ("detail", "preview", "start"):
        assert charlie.post(_url(name, job_id=job.pk)).status_code == 404
    # In his own organization, alpha's job id is nobody's.
    for name in ("detail", "report"):
        assert charlie.get(_url(name, org="charlie", job_id=job.pk)).status_code == 404
    for name in ("detail", "preview", "start"):
        assert charlie.post(_url(name, org="charlie", job_id=job.pk)).status_code == 404


def test_job_list_queries_are_bounded(
    trio, marketer, upload, client_for, django_assert_max_num_queries
):
    """One query for the page of jobs (with their author), whatever their number; the
    rest is the request's own (session, user, organization, membership, tenant, bell)."""
    client = client_for(marketer.user)
    client.get(_url("list"))  # the first request of a session does more
    for i in range(30):
        upload(trio.alpha, marketer, BROKEN, filename=f"file-{i}.csv")
        if i in (0, 29):
            with django_assert_max_num_queries(16):
                response = client.get(_url("list"))
            assert response.status_code == 200
    assert response.content.decode().count("file-") == 25  # one page


def test_the_progress_poll_is_cheap(trio, marketer, queued, client_for):
    """Polled every second: a fixed handful of queries, and the file is not loaded."""
    job = queued(trio.alpha, marketer, BROKEN)
    client = client_for(marketer.user)
    url = _url("detail", job_id=job.pk)
    client.get(url, headers={"HX-Request": "true"})
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in response.content.decode()
    assert len(queries) <= 14
    job_queries = [q["sql"] for q in queries if "leads_importjob" in q["sql"]]
    assert len(job_queries) == 1 and '"content"' not in job_queries[0]


# --- In a browser -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_marketer_imports_a_file_in_the_browser(
    trio,
    marketer,
    page,
    live_server,
    screenshot,
    monkeypatch,
    tmp_path,
    as_org,
):
    from django.conf import settings
    from django.test import Client

    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    sent: list[tuple] = []
    monkeypatch.setattr(import_tasks.run_import, "delay", lambda *args: sent.append(args))
    _lead(trio.alpha, as_org, email="jean@initech.io", first_name="Jean")
    client = Client()
    client.force_login(marketer.user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    path = tmp_path / "salon-2026.csv"
    path.write_bytes(BROKEN.encode("cp1252"))

    page.goto("/o/alpha/imports/new/")
    page.set_input_files("input[type=file]", str(path))
    screenshot("imports-upload")
    page.get_by_role("button", name="Upload and map the columns").click()
    page.wait_for_url("**/imports/*/")
    assert page.locator("select[name=col_0]").input_value() == "email"
    assert page.locator("select[name=col_5]").input_value() == "country"
    # Ignoring a column updates the preview in place.
    assert page.locator("#preview").get_by_text("DSI").count() == 1
    page.locator("select[name=col_6]").select_option("")
    page.locator("#preview").get_by_text("DSI").wait_for(state="detached")
    page.locator("select[name=col_6]").select_option("title")
    page.locator("#preview").get_by_text("DSI").wait_for()
    page.get_by_role("button", name="Check the file").click()
    page.locator("#report").wait_for()
    assert page.locator("#report .import-issues tbody tr").count() == 4
    screenshot("imports-mapping-report")

    page.get_by_role("button", name="Import 3 valid rows").click()
    page.get_by_text("Waiting for a worker").wait_for()
    assert len(sent) == 1
    cursor = import_tasks.run_import(*sent[0])  # the first chunk only: 2 of 6 rows
    page.get_by_text("2 of 6 rows").wait_for()  # the page polls every second
    screenshot("imports-progress-running")
    while cursor is not None:
        cursor = import_tasks.run_import(trio.alpha.pk, sent[0][1], cursor)
    page.get_by_text("Import finished").wait_for()
    assert page.locator("#progress[hx-trigger]").count() == 0  # polling stopped
    screenshot("imports-progress-done")
    page.get_by_role("link", name="All imports").click()
    page.get_by_text("salon-2026.csv").wait_for()
    screenshot("imports-list")


# --- With a real worker -------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_imports_a_file_in_chained_chunks(
    trio, marketer, validated, as_org, celery_worker_process
):
    import time

    rows = "".join(f"lead{i}@bulk.fr,Lead {i},FR\n" for i in range(1200))
    job = validated(trio.alpha, marketer, "email,first name,country\n" + rows)
    with as_org(trio.alpha):
        assert imports.import_start(actor=marketer, job=job)  # sent once committed
    deadline = time.monotonic() + 60
    seen = set()
    while time.monotonic() < deadline:
        state = _get(trio.alpha, as_org, job)
        seen.add(state.processed_rows)
        if state.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
            break
        time.sleep(0.05)
    assert state.status == ImportJob.Status.DONE, state.errors[-1:]
    assert (state.processed_rows, state.created_leads, state.progress) == (1200, 1200, 100)
    assert seen <= {0, 500, 1000, 1200}  # only committed chunk boundaries are ever seen
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).filter(email__endswith="@bulk.fr").count() == 1200
