"""The weekly report as Markdown, for tickets (GitHub/GitLab/Jira-style tables).

Values from storage (URLs, source names) go into code spans with their backticks and
table pipes escaped, so a crafted URL cannot break the table or inject markup, and
with control and bidi characters shown as escapes (vahti.display.clean).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vahti.display import clean
from vahti.reports import fmt
from vahti.reports.dpo import ART33_HOURS
from vahti.reports.model import WeeklyReport


def code(value: object) -> str:
    """An inline code span that survives any content (backticks, pipes, newlines)."""
    text = " ".join(clean(value, one_line=False).split()).replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def text(value: object) -> str:
    """Plain text in a table cell: pipes escaped, one line, Markdown specials escaped."""
    out = " ".join(clean(value, one_line=False).split())
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
          empty: str = "none") -> str:
    rows = list(rows)
    if not rows:
        return f"_{empty}_"
    nums = set(numeric)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in nums else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_md(report: WeeklyReport) -> str:
    r, h, d, a = report, report.headline, report.dpo, report.alerts
    out: list[str] = [
        f"# {fmt.title(r)}",
        "",
        f"Week **{r.week.id}**: {fmt.week_span(r)}. Generated {fmt.when(r.generated_at)}. "
        "Counts and pseudonymous refs only (no identifier values, no page text).",
        "",
        "## Headline",
        "",
        table(["figure", "value"], [
            ["Newly exposed persons this week", f"**{h.new_persons}**"],
            [f"Newly exposed persons last week ({r.previous.id})", str(h.new_persons_previous)],
            ["Change", fmt.signed(h.change)],
            ["Persons exposed to date", str(h.total_exposed)],
            ["Persons seen this week", str(h.persons_seen)],
            ["Sightings this week", str(h.sightings)],
            ["Pages with sightings", str(h.pages)],
            ["New sources of exposure", str(h.new_sources)],
            ["Record-text (fragment) matches", str(h.fragment_sightings)],
            ["Alerts raised", str(h.alerts)],
            ["Unhealthy sources now", str(h.unhealthy_sources)],
        ], numeric=(1,)),
        "",
    ]
    if r.empty:
        out += ["_Nothing was seen this week: no sightings were first seen in it._", ""]

    out += ["## For the data-protection officer", "",
            f"Data subjects: persons of the controller's register, by pseudonymous ref. "
            f"About **{d.data_subjects}** data subjects concerned this week, "
            f"**{d.new_data_subjects}** exposed for the first time, "
            f"**{d.special_category_subjects}** with health data (GDPR Art. 9). "
            f"Records concerned: **{d.sightings}** sightings on **{d.pages}** pages.", "",
            table(["category", "identifier types", "Art. 9", "persons", "sightings"],
                  ([text(c.label), ", ".join(code(t) for t in c.id_types),
                    "yes" if c.special else "no", str(c.persons), str(c.sightings)]
                   for c in d.categories), numeric=(3, 4)),
            ""]
    if d.first_seen is not None:
        out += [f"- Exposure first seen: **{fmt.when(d.first_seen)}**",
                f"- First seen + {ART33_HOURS} h (GDPR Art. 33 mark): "
                f"**{fmt.when(d.art33_deadline)}**, "
                + ("**passed** at report time" if d.art33_passed else "not yet passed"), ""]
    out += [fmt.art33_status(d), ""]
    shown, more = fmt.refs_shown(d.new_refs)
    out += ["Newly exposed persons (refs): "
            + (", ".join(code(ref) for ref in shown) if shown else "_none_")
            + (f" ... and {more} more (all in the JSON report)" if more else ""), ""]

    out += ["## Daily trend", "",
            table(["day (UTC)", "newly exposed", "persons seen", "sightings"],
                  ([f"{day.date:%a %Y-%m-%d}" + ("" if day.in_week else " (prev.)"),
                    str(day.new_persons), str(day.persons_seen), str(day.sightings)]
                   for day in r.trend), numeric=(1, 2, 3)), ""]

    out += ["## By source", "",
            table(["source", "persons", "newly exposed", "sightings", "pages", "new source"],
                  ([code(s.source), str(s.persons), str(s.new_persons), str(s.sightings),
                    str(s.pages), "**new**" if s.new_source else ""] for s in r.by_source),
                  numeric=(1, 2, 3, 4), empty="no sightings this week"), "",
            "## By identifier type", "",
            table(["identifier type", "category", "persons", "sightings"],
                  ([code(t.id_type), code(t.category), str(t.persons), str(t.sightings)]
                   for t in r.by_type), numeric=(2, 3), empty="no sightings this week"), "",
            "## New sources of exposure", "",
            table(["source", "first seen", "persons", "sightings", "pages"],
                  ([code(s.source), fmt.when(s.first_seen), str(s.persons), str(s.sightings),
                    str(s.pages)] for s in r.new_sources), numeric=(2, 3, 4),
                  empty="no new source of exposure this week"), "",
            "## Pages with the most persons", "",
            table(["page", "source", "persons", "sightings", "first seen"],
                  ([code(p.url), code(p.source), str(p.persons), str(p.sightings),
                    fmt.when(p.first_seen)] for p in r.top_pages), numeric=(2, 3),
                  empty="no page with sightings this week"), "",
            "## Fragment matches (patient record text)", "",
            f"{fmt.count(r.fragments.sightings, 'sighting')}, "
            f"{fmt.count(r.fragments.persons, 'person')}, "
            f"{fmt.count(r.fragments.pages, 'page')}, "
            f"best score {fmt.score(r.fragments.best_score)}.", ""]

    out += ["## Alerts and their delivery", "",
            f"{a.total} alerts raised ({a.sighting} sighting, {a.health} source health), "
            f"covering {fmt.count(a.persons, 'person')}. "
            f"Deliveries: {fmt.deliveries_text(a.states)}."
            + (f" **{a.undelivered} alerts not delivered to any channel yet.**"
               if a.undelivered else ""), "",
            table(["channel", *fmt.STATE_ORDER],
                  ([code(c.channel), *(str(c.states.get(s, 0)) for s in fmt.STATE_ORDER)]
                   for c in a.channels), numeric=(1, 2, 3, 4), empty="no deliveries"), "",
            table(["created", "kind", "source", "what", "state", "deliveries"],
                  ([fmt.when(i.created), i.kind, code(i.source),
                    (f"{fmt.count(i.persons, 'person')} on {code(i.url)}" if i.kind == "sighting"
                     else text(i.problem.replace("_", " "))),
                    fmt.TRIAGE_LABELS.get(i.state, text(i.state)),
                    text(", ".join(f"{x.channel}: {x.state}" for x in i.deliveries)
                         or "no channel")] for i in a.items),
                  empty="no alerts this week"), ""]
    if a.items_total > len(a.items):
        out += [f"Showing the newest {len(a.items)} of {a.items_total} alerts.", ""]

    out += ["## Triage", ""]
    for line in fmt.triage_text(r):
        out += [text(line), ""]

    out += ["## Source health", "",
            f"As of {fmt.when(r.health.checked_at)}.", "",
            table(["source", "health", "last success", "last new item", "errors", "reason"],
                  ([code(s.source), ("" if s.healthy else "**") + s.verdict
                    + ("" if s.healthy else "**"), fmt.when(s.last_success),
                    fmt.when(s.last_new),
                    text(", ".join(f"{k} {n}" for k, n in sorted(s.errors.items())) or "none"),
                    text(s.reason)] for s in r.health.sources),
                  empty=r.health.note or "no sources"), ""]
    if r.health.note and r.health.sources:
        out += [f"**{text(r.health.note)}**", ""]
    return "\n".join(out)
