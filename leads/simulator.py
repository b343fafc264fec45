"""Realistic B2B marketing traffic for the demo organization.

Used twice: by ``leads/demo.py`` to build 90 days of history (about 2,000 leads and
50,000 events), and by the ``demo_traffic`` beat task that keeps sending a few events
every few seconds while ``make run`` serves the demo, so the queue and dashboards move.
Both go through the real ingestion service, exactly like the API.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from .ingest import ingest_events

FIRST_NAMES = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Julie",
    "Sarah",
    "Emma",
    "Clara",
    "Anaïs",
    "Thomas",
    "Lucas",
    "Hugo",
    "Maxime",
    "Antoine",
    "Nicolas",
    "Julien",
    "Alexandre",
    "Romain",
    "Mathieu",
    "Pierre",
    "Louis",
    "Claire",
    "Sophie",
    "Aurélie",
    "Marion",
    "Guillaume",
    "Vincent",
    "Élise",
    "Benoît",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
]
COMPANY_WORDS = [
    ("Logi", "Logistique"),
    ("Indus", "Industrie"),
    ("Santé", "Santé"),
    ("Fin", "Finance"),
    ("Tech", "Logiciel"),
    ("Agro", "Agroalimentaire"),
    ("Bâti", "BTP"),
    ("Éner", "Énergie"),
    ("Retail", "Distribution"),
    ("Conseil", "Conseil"),
    ("Transport", "Transport"),
    ("Assur", "Assurance"),
]
COMPANY_SUFFIXES = ["Groupe", "SAS", "& Associés", "France", "Solutions", "Systèmes", "Services"]
TITLES = [
    ("Directeur commercial", "director"),
    ("Directrice marketing", "director"),
    ("Responsable marketing digital", "manager"),
    ("Chargée de marketing", "individual"),
    ("CEO", "c_level"),
    ("Fondateur", "c_level"),
    ("DG", "c_level"),
    ("Responsable des ventes", "manager"),
    ("Business developer", "individual"),
    ("VP Sales", "vp"),
    ("Directeur des opérations", "director"),
    ("DSI", "director"),
    ("Étudiant en école de commerce", "student"),
    ("Office manager", "individual"),
    ("Head of Growth", "manager"),
    ("Chef de projet CRM", "individual"),
]
COUNTRIES = ["FR"] * 16 + ["BE", "BE", "CH", "CA", "LU", "MA"]
FREE_MAIL = ["gmail.com", "yahoo.fr", "hotmail.fr", "orange.fr", "free.fr", "laposte.net"]
SITE = "https://www.acme-crm.fr"
PAGES = [
    ("/", "Accueil"),
    ("/produit", "Le produit"),
    ("/fonctionnalites/scoring", "Scoring"),
    ("/fonctionnalites/sla", "SLA commercial"),
    ("/blog/smarketing", "Qu'est-ce que le Smarketing ?"),
    ("/blog/lead-scoring", "Lead scoring : le guide"),
    ("/cas-clients", "Cas clients"),
    ("/ressources", "Ressources"),
    ("/a-propos", "À propos"),
    ("/contact", "Contact"),
]
PRICING = ("/tarifs", "Tarifs")
DEMO_PAGE = ("/demo", "Demander une démo")

CONTENT = [
    # key, title, type, level, persona, funnel stage
    (
        "guide-smarketing-debutant",
        "Le Smarketing pour les débutants",
        "guide",
        "beginner",
        "Responsable marketing",
        "awareness",
    ),
    (
        "checklist-alignement",
        "Checklist : aligner ventes et marketing",
        "checklist",
        "beginner",
        "Directeur commercial",
        "awareness",
    ),
    (
        "ebook-lead-nurturing",
        "E-book : le lead nurturing en 5 étapes",
        "ebook",
        "beginner",
        "Chargé de marketing",
        "awareness",
    ),
    (
        "webinar-mql-sql",
        "Webinar : définir MQL et SQL ensemble",
        "webinar",
        "intermediate",
        "Responsable marketing",
        "consideration",
    ),
    (
        "livre-blanc-scoring",
        "Livre blanc : le lead scoring prédictif",
        "white_paper",
        "intermediate",
        "Directeur marketing",
        "consideration",
    ),
    (
        "modele-sla",
        "Modèle de SLA marketing–ventes",
        "template",
        "intermediate",
        "Directeur commercial",
        "consideration",
    ),
    (
        "cas-client-industrie",
        "Cas client : +32 % de CA dans l'industrie",
        "case_study",
        "intermediate",
        "DG",
        "decision",
    ),
    (
        "guide-revops-expert",
        "RevOps : architecture de données avancée",
        "guide",
        "expert",
        "DSI",
        "decision",
    ),
    (
        "livre-blanc-attribution",
        "Attribution multi-touch : méthodes avancées",
        "white_paper",
        "expert",
        "Directeur marketing",
        "decision",
    ),
    (
        "video-demo-produit",
        "Démo produit en 12 minutes",
        "video",
        "expert",
        "Directeur commercial",
        "decision",
    ),
    (
        "cas-client-saas",
        "Cas client : un SaaS divise son CAC par deux",
        "case_study",
        "expert",
        "CEO",
        "decision",
    ),
    (
        "guide-roi-calcul",
        "Calculer le ROI de l'alignement",
        "guide",
        "intermediate",
        "DAF",
        "consideration",
    ),
]
CAMPAIGNS = [
    # key, name, channel, utm source, utm medium, utm campaign, spend, days ago start
    (
        "linkedin-abm-q4",
        "LinkedIn ABM T4",
        "paid_social",
        "linkedin",
        "paid_social",
        "abm-q4",
        "12500.00",
        80,
    ),
    (
        "google-ads-crm",
        "Google Ads « CRM B2B »",
        "paid_search",
        "google",
        "cpc",
        "crm-b2b",
        "9800.00",
        90,
    ),
    (
        "newsletter-mensuelle",
        "Newsletter mensuelle",
        "email",
        "newsletter",
        "email",
        "newsletter",
        "600.00",
        90,
    ),
    (
        "webinar-mql-sql",
        "Webinar MQL/SQL",
        "webinar",
        "webinar",
        "email",
        "webinar-mql-sql",
        "2400.00",
        45,
    ),
    ("salon-vivatech", "Salon VivaTech", "event", "salon", "event", "vivatech", "18000.00", 60),
    ("seo-blog", "SEO – blog", "seo", "google", "organic", "seo-blog", "3000.00", 90),
    (
        "partenaire-cabinet",
        "Partenariat cabinet conseil",
        "partner",
        "partenaire",
        "referral",
        "cabinet",
        "1500.00",
        70,
    ),
    (
        "retargeting-tarifs",
        "Retargeting page tarifs",
        "paid_social",
        "meta",
        "paid_social",
        "retargeting-tarifs",
        "4200.00",
        30,
    ),
]


def _ascii(text: str) -> str:
    return (
        unicodedata.normalize("NFKD", text)
        .encode("ascii", "ignore")
        .decode()
        .lower()
        .replace(" ", "")
        .replace("'", "")
        .replace("&", "")
    )


@dataclass
class Person:
    index: int
    first_name: str
    last_name: str
    email: str
    title: str
    company: str
    domain: str
    country: str
    visitor_id: str
    intent: float  # 0..1: how far along the buying journey this person tends to go
    campaign: tuple | None


def companies(rng: random.Random, count: int = 420) -> list[tuple[str, str, str]]:
    seen, out = set(), []
    while len(out) < count:
        word, industry = rng.choice(COMPANY_WORDS)
        name = f"{rng.choice(LAST_NAMES)} {word}{rng.choice(['', 'ia', 'ex', 'is', 'o'])}"
        name = f"{name} {rng.choice(COMPANY_SUFFIXES)}"
        domain = _ascii(name.rsplit(" ", 1)[0]) + rng.choice([".fr", ".com", ".fr", ".eu"])
        if domain in seen:
            continue
        seen.add(domain)
        out.append((name, domain, industry))
    return out


def people(rng: random.Random, count: int = 2000) -> list[Person]:
    firms = companies(rng)
    out = []
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name, domain, _industry = rng.choice(firms)
        title, _seniority = rng.choice(TITLES)
        mail_domain = rng.choice(FREE_MAIL) if rng.random() < 0.12 else domain
        email = f"{_ascii(first)}.{_ascii(last)}{i}@{mail_domain}"
        out.append(
            Person(
                index=i,
                first_name=first,
                last_name=last,
                email=email,
                title=title,
                company=name,
                domain=domain,
                country=rng.choice(COUNTRIES),
                visitor_id=f"v-{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}",
                intent=rng.betavariate(1.3, 3.2),
                campaign=rng.choice(CAMPAIGNS) if rng.random() < 0.7 else None,
            )
        )
    return out


def _event(
    rng, person: Person, kind: str, at: datetime, page=None, content=None, identify=False
) -> dict:
    event = {
        "id": f"sim-{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "type": kind,
        "occurred_at": at.isoformat(),
        "visitor_id": person.visitor_id,
    }
    if page:
        event["url"] = SITE + page[0]
        event["properties"] = {"title": page[1]}
    if content:
        event["content"] = content
    if identify or kind not in ("page_view",):
        event["email"] = person.email
    if identify:
        event.update(
            first_name=person.first_name,
            last_name=person.last_name,
            title=person.title,
            company=person.company,
            company_domain=person.domain,
            country=person.country,
        )
    if person.campaign and rng.random() < 0.5:
        _key, _name, _ch, source, medium, utm_campaign, _spend, _start = person.campaign
        event["campaign"] = {
            "utm_source": source,
            "utm_medium": medium,
            "utm_campaign": utm_campaign,
        }
    return event


def journey(rng: random.Random, person: Person, start: datetime, end: datetime) -> list[dict]:
    """One person's path: anonymous visits, a first form (identified), content by level,
    and — the more intent — webinars, pricing visits and a demo request."""
    span = max((end - start).total_seconds(), 3600)

    def when(fraction: float) -> datetime:
        return start + timedelta(seconds=span * min(max(fraction, 0), 0.999))

    events = []
    t = rng.random() * 0.3
    for _ in range(rng.randint(1, 4)):  # anonymous browsing before identification
        events.append(_event(rng, person, "page_view", when(t), page=rng.choice(PAGES)))
        t += rng.random() * 0.05
    beginner = [c for c in CONTENT if c[3] == "beginner"]
    events.append(
        _event(
            rng,
            person,
            "content_download",
            when(t),
            page=("/ressources", "Ressources"),
            content=rng.choice(beginner)[0],
            identify=True,
        )
    )
    steps = int(6 + person.intent * 48)
    for _ in range(steps):
        t += rng.random() * (0.7 / steps) * 1.6
        roll = rng.random()
        if roll < 0.45:
            events.append(_event(rng, person, "page_view", when(t), page=rng.choice(PAGES)))
        elif roll < 0.6:
            events.append(_event(rng, person, "email_open", when(t)))
        elif roll < 0.7:
            events.append(_event(rng, person, "email_click", when(t), page=rng.choice(PAGES)))
        elif roll < 0.8:
            level = (
                "expert"
                if person.intent > 0.55
                else "intermediate"
                if person.intent > 0.25
                else "beginner"
            )
            pool = [c for c in CONTENT if c[3] == level]
            events.append(
                _event(
                    rng,
                    person,
                    "content_download",
                    when(t),
                    page=("/ressources", "Ressources"),
                    content=rng.choice(pool)[0],
                )
            )
        elif roll < 0.86 and person.intent > 0.3:
            events.append(_event(rng, person, "page_view", when(t), page=PRICING))
        elif roll < 0.9 and person.intent > 0.35:
            events.append(
                _event(rng, person, "webinar_registered", when(t), content="webinar-mql-sql")
            )
            if rng.random() < 0.6:
                events.append(
                    _event(
                        rng, person, "webinar_attended", when(t + 0.01), content="webinar-mql-sql"
                    )
                )
        else:
            events.append(_event(rng, person, "page_view", when(t), page=rng.choice(PAGES)))
    if person.intent > 0.6:  # a buying burst: pricing three times in a week, a demo request
        burst = min(t + rng.random() * 0.2, 0.95)
        for k in range(rng.randint(2, 4)):
            events.append(_event(rng, person, "page_view", when(burst + k * 0.01), page=PRICING))
        if rng.random() < 0.6:
            events.append(_event(rng, person, "demo_request", when(burst + 0.05), page=DEMO_PAGE))
    return events


def send(organization, events: list[dict], source: str = "simulator") -> tuple[int, int]:
    """Through the real ingestion path, in batches of 1,000 sorted by time."""
    events.sort(key=lambda e: e["occurred_at"])
    accepted = duplicates = 0
    for i in range(0, len(events), 1000):
        result = ingest_events(
            organization=organization, events=events[i : i + 1000], source=source
        )
        accepted += result.accepted
        duplicates += result.duplicates
    return accepted, duplicates


def live_tick(organization, rng: random.Random, now: datetime, *, size: int = 12) -> int:
    """A few seconds of live traffic: known people come back, a newcomer now and then."""
    crowd = people(random.Random(2026), 2000)  # the same people as the history
    events = []
    for _ in range(size):
        person = rng.choice(crowd) if rng.random() < 0.85 else people(rng, 1)[0]
        if rng.random() < 0.15:
            person.intent = max(person.intent, 0.7)
        roll = rng.random()
        at = now - timedelta(seconds=rng.randint(0, 20))
        if roll < 0.6:
            events.append(
                _event(
                    rng,
                    person,
                    "page_view",
                    at,
                    page=rng.choice(PAGES),
                    identify=rng.random() < 0.3,
                )
            )
        elif roll < 0.75:
            events.append(_event(rng, person, "page_view", at, page=PRICING, identify=True))
        elif roll < 0.9:
            level = rng.choice(["beginner", "intermediate", "expert"])
            pool = [c for c in CONTENT if c[3] == level]
            events.append(
                _event(
                    rng, person, "content_download", at, content=rng.choice(pool)[0], identify=True
                )
            )
        elif roll < 0.97:
            events.append(_event(rng, person, "email_click", at, page=rng.choice(PAGES)))
        else:
            events.append(_event(rng, person, "demo_request", at, page=DEMO_PAGE, identify=True))
    accepted, _duplicates = send(organization, events, source="simulator")
    return accepted
