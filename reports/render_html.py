"""The weekly report as ONE self-contained HTML file.

Inline CSS (with print rules), the trend chart as inline SVG, no scripts, no external
asset, no link: page URLs from leak sites are shown as text, never as links. Every
value from storage is escaped (a URL or a source name may hold anything).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from vahti.display import clean
from vahti.reports import fmt
from vahti.reports.chart import trend_svg
from vahti.reports.dpo import ART33_HOURS
from vahti.reports.model import WeeklyReport

CSS = """
:root { --ink: #1d2733; --muted: #5b6773; --line: #d5dbe1; --alarm: #b03a2e;
        --ok: #1e7b4a; --warn: #a86a00; --bg-soft: #f4f6f8; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif;
       color: var(--ink); background: #fff; margin: 0 auto; max-width: 1100px;
       padding: 24px 28px 48px; line-height: 1.45; font-size: 14px; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 10px; margin-bottom: 18px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
p { margin: 6px 0; }
.meta { color: var(--muted); margin: 2px 0; }
.notice { background: var(--bg-soft); border-left: 4px solid var(--ink); padding: 8px 12px;
          margin: 10px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
         gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
        background: var(--bg-soft); }
.card .num { font-size: 30px; font-weight: bold; line-height: 1.1; }
.card .label { color: var(--muted); }
.card.alarm { border-color: var(--alarm); }
.card.alarm .num { color: var(--alarm); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 7px; text-align: left;
         vertical-align: top; }
th { background: var(--bg-soft); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .url { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px;
             word-break: break-all; }
.bad { color: var(--alarm); font-weight: bold; }
.good { color: var(--ok); font-weight: bold; }
.warn { color: var(--warn); font-weight: bold; }
.empty { color: var(--muted); font-style: italic; }
.dpo { border: 2px solid var(--ink); border-radius: 6px; padding: 4px 16px 10px;
       margin-top: 24px; }
.refs { columns: 6 9em; font-family: "DejaVu Sans Mono", monospace; font-size: 12px;
        margin: 6px 0; }
figure { margin: 10px 0; }
figure svg { width: 100%; max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px;
         border-top: 1px solid var(--line); padding-top: 8px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .card { background: #fff; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  table, figure, .cards, .dpo { break-inside: auto; }
  tr, .card, figure { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
}
"""


def _e(value: object) -> str:
    # controls too: `cat report.html` on a terminal must not run a crafted name's escapes
    return escape(clean(value, one_line=False), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
           empty: str = "none") -> str:
    """A table; cells are HTML already (escape before), `numeric` columns right-aligned."""
    nums = set(numeric)
    rows = list(rows)
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f'<th{" class=n" if i in nums else ""}>{_e(h)}</th>'
                   for i, h in enumerate(headers))
    body = "\n".join(
        "<tr>" + "".join(f'<td{" class=n" if i in nums else ""}>{cell}</td>'
                         for i, cell in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _card(key: str, number: object, label: str, alarm: bool = False, note: str = "") -> str:
    extra = f'<div class="label">{_e(note)}</div>' if note else ""
    return (f'<div class="card{" alarm" if alarm else ""}" data-figure="{_e(key)}">'
            f'<div class="num">{_e(number)}</div><div class="label">{_e(label)}</div>'
            f"{extra}</div>")


def _headline(r: WeeklyReport) -> str:
    h = r.headline
    cards = [
        _card("new_persons", h.new_persons, "newly exposed persons this week",
              alarm=h.new_persons > 0,
              note=f"last week {h.new_persons_previous} ({fmt.signed(h.change)})"),
        _card("new_persons_previous", h.new_persons_previous,
              f"newly exposed persons last week ({r.previous.id})"),
        _card("total_exposed", h.total_exposed, "persons exposed to date"),
        _card("persons_seen", h.persons_seen, "persons seen this week"),
        _card("sightings", h.sightings, "sightings this week"),
        _card("pages", h.pages, "pages with sightings"),
        _card("new_sources", h.new_sources, "new sources of exposure", alarm=h.new_sources > 0),
        _card("fragment_sightings", h.fragment_sightings, "record-text (fragment) matches",
              alarm=h.fragment_sightings > 0),
        _card("alerts", h.alerts, "alerts raised this week"),
        _card("unhealthy_sources", h.unhealthy_sources, "unhealthy sources now",
              alarm=h.unhealthy_sources > 0),
    ]
    return '<section id="headline"><h2>Headline</h2>\n<div class="cards">\n' + \
        "\n".join(cards) + "\n</div></section>"


def _dpo(r: WeeklyReport) -> str:
    d = r.dpo
    cats = _table(
        ["category", "identifier types", "Art. 9 special category", "persons", "sightings"],
        ([_e(c.label), _e(", ".join(c.id_types)), "yes" if c.special else "no",
          str(c.persons), str(c.sightings)] for c in d.categories),
        numeric=(3, 4))
    if d.first_seen is None:
        clock = f'<p class="empty">{_e(fmt.art33_status(d))}</p>'
    else:
        state = ('<span class="bad">passed</span>' if d.art33_passed
                 else '<span class="warn">running</span>')
        clock = _table(
            ["exposure first seen", f"first seen + {ART33_HOURS} h (Art. 33 mark)",
             "at report time"],
            [[_e(fmt.when(d.first_seen)), _e(fmt.when(d.art33_deadline)), state]])
        clock += f"<p>{_e(fmt.art33_status(d))}</p>"
    shown, more = fmt.refs_shown(d.new_refs)
    refs = ("".join(f"<div>{_e(ref)}</div>" for ref in shown) if shown else "")
    refs_html = (f'<div class="refs">{refs}</div>' if shown
                 else '<p class="empty">no newly exposed persons</p>')
    if more:
        refs_html += f"<p>... and {more} more (all refs are in the JSON report).</p>"
    return f"""<section id="dpo" class="dpo">
<h2>For the data-protection officer</h2>
<p>Data subjects: persons of the controller's register, by pseudonymous reference (ref).
Approximately <strong data-figure="dpo_subjects">{d.data_subjects}</strong> data subjects
are concerned this week, <strong>{d.new_data_subjects}</strong> of them exposed for the first
time; <strong>{d.special_category_subjects}</strong> with health data (patient record
fragments, GDPR Art. 9). Records concerned: <strong>{d.sightings}</strong> sightings on
<strong>{d.pages}</strong> pages.</p>
<h3>Categories of personal data</h3>
{cats}
<h3>GDPR Art. 33: 72 hours from the first sighting</h3>
{clock}
<p class="meta">The clock is counted from vahti's first sighting of this week's exposure, the
earliest moment the controller could have been aware of it. If the exposure belongs to a
breach already notified, that notification's timeline applies.</p>
<h3>Newly exposed persons (refs)</h3>
{refs_html}
</section>"""


def _trend(r: WeeklyReport) -> str:
    svg = trend_svg(r.trend)
    svg = svg.replace("<svg ", '<svg role="img" aria-label="daily trend: newly exposed '
                      'persons and sightings per day" ', 1)
    rows = ([_e(f"{d.date:%a %Y-%m-%d}") + ("" if d.in_week else " (previous week)"),
             str(d.new_persons), str(d.persons_seen), str(d.sightings)] for d in r.trend)
    table = _table(["day (UTC)", "newly exposed", "persons seen", "sightings"], rows,
                   numeric=(1, 2, 3))
    return f"""<section id="trend"><h2>Daily trend</h2>
<figure>{svg}
<figcaption>Per day (UTC), {r.previous.id} shaded, then {r.week.id}: newly exposed persons
(first sighting ever) and sightings first seen that day.</figcaption></figure>
{table}</section>"""


def _sources(r: WeeklyReport) -> str:
    by_source = _table(
        ["source", "persons", "newly exposed", "sightings", "pages", "new source"],
        ([f"<code>{_e(s.source)}</code>", str(s.persons), str(s.new_persons),
          str(s.sightings), str(s.pages), '<span class="bad">new</span>' if s.new_source else ""]
         for s in r.by_source), numeric=(1, 2, 3, 4), empty="no sightings this week")
    by_type = _table(
        ["identifier type", "category", "persons", "sightings"],
        ([f"<code>{_e(t.id_type)}</code>", _e(t.category), str(t.persons), str(t.sightings)]
         for t in r.by_type), numeric=(2, 3), empty="no sightings this week")
    new = _table(
        ["source", "first seen", "persons", "sightings", "pages"],
        ([f"<code>{_e(s.source)}</code>", _e(fmt.when(s.first_seen)), str(s.persons),
          str(s.sightings), str(s.pages)] for s in r.new_sources),
        numeric=(2, 3, 4), empty="no new source of exposure this week")
    return f"""<section id="by-source"><h2>By source</h2>{by_source}</section>
<section id="by-type"><h2>By identifier type</h2>{by_type}</section>
<section id="new-sources"><h2>New sources of exposure</h2>
<p class="meta">Sources whose first sighting ever falls in this week.</p>{new}</section>"""


def _pages(r: WeeklyReport) -> str:
    pages = _table(
        ["page (URL, as text)", "source", "persons", "sightings", "first seen"],
        ([f'<span class="url">{_e(p.url)}</span>', f"<code>{_e(p.source)}</code>",
          str(p.persons), str(p.sightings), _e(fmt.when(p.first_seen))] for p in r.top_pages),
        numeric=(2, 3), empty="no page with sightings this week")
    f = r.fragments
    frag = _table(["fragment sightings", "persons", "pages", "best score"],
                  [[str(f.sightings), str(f.persons), str(f.pages), _e(fmt.score(f.best_score))]],
                  numeric=(0, 1, 2, 3))
    return f"""<section id="pages"><h2>Pages with the most persons</h2>{pages}</section>
<section id="fragments"><h2>Fragment matches (patient record text)</h2>{frag}</section>"""


def _alerts(r: WeeklyReport) -> str:
    a = r.alerts
    summary = (f"<p><strong>{a.total}</strong> alerts raised this week ({a.sighting} sighting, "
               f"{a.health} source health), covering {_e(fmt.count(a.persons, 'person'))}. "
               f"Deliveries: "
               f"{_e(fmt.deliveries_text(a.states))}."
               + (f' <span class="bad">{a.undelivered} alerts not delivered to any '
                  f"channel yet.</span>" if a.undelivered else "") + "</p>")
    channels = _table(
        ["channel", *fmt.STATE_ORDER],
        ([f"<code>{_e(c.channel)}</code>", *(str(c.states.get(s, 0)) for s in fmt.STATE_ORDER)]
         for c in a.channels), numeric=(1, 2, 3, 4), empty="no deliveries")

    def what(item) -> str:
        if item.kind == "sighting":
            return (f'{_e(fmt.count(item.persons, "person"))} on '
                    f'<span class="url">{_e(item.url)}</span>')
        return _e(item.problem.replace("_", " "))

    items = _table(
        ["created", "kind", "source", "what", "state", "deliveries"],
        ([_e(fmt.when(i.created)), _e(i.kind), f"<code>{_e(i.source)}</code>", what(i),
          _e(fmt.TRIAGE_LABELS.get(i.state, i.state)),
          _e(", ".join(f"{d.channel}: {d.state}" for d in i.deliveries) or "no channel")]
         for i in a.items), empty="no alerts this week")
    more = (f"<p>Showing the newest {len(a.items)} of {a.items_total} alerts.</p>"
            if a.items_total > len(a.items) else "")
    return f"""<section id="alerts"><h2>Alerts and their delivery</h2>{summary}
<h3>Delivery state per channel</h3>{channels}
<h3>Alerts</h3>{items}{more}</section>"""


def _triage(r: WeeklyReport) -> str:
    lines = "".join(f"<p>{_e(line)}</p>" for line in fmt.triage_text(r))
    return f"""<section id="triage"><h2>Triage</h2>{lines}</section>"""


def _health(r: WeeklyReport) -> str:
    h = r.health

    def verdict(row) -> str:
        css = "good" if row.verdict == "ok" else ("bad" if not row.healthy else "warn")
        return f'<span class="{css}">{_e(row.verdict.replace("_", " "))}</span>'

    table = _table(
        ["source", "health", "last success", "last new item", "errors (recent runs)", "reason"],
        ([f"<code>{_e(s.source)}</code>", verdict(s), _e(fmt.when(s.last_success)),
          _e(fmt.when(s.last_new)),
          _e(", ".join(f"{k} {n}" for k, n in sorted(s.errors.items())) or "none"),
          _e(s.reason)] for s in h.sources),
        empty=h.note or "no sources")
    return f"""<section id="health"><h2>Source health</h2>
<p class="meta">As of {_e(fmt.when(h.checked_at))}, from the crawl-run history.</p>
{table}{f'<p class="warn">{_e(h.note)}</p>' if h.note and h.sources else ""}</section>"""


def render_html(report: WeeklyReport) -> str:
    r = report
    empty = ('<p class="notice">Nothing was seen this week: no sightings were first seen '
             "between its start and end.</p>" if r.empty else "")
    body = "\n".join((_headline(r), empty, _dpo(r), _trend(r), _sources(r), _pages(r),
                      _alerts(r), _triage(r), _health(r)))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{_e(fmt.title(r))}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{_e(fmt.title(r))}</h1>
<p class="meta">Week {_e(r.week.id)}: {_e(fmt.week_span(r))}. Generated
{_e(fmt.when(r.generated_at))}.</p>
<p class="meta">Counts and pseudonymous refs only: vahti keeps no identifier values and no
page text. Page URLs are shown as text, not links.</p>
</header>
<main>
{body}
</main>
<footer>vahti weekly exposure report {_e(r.week.id)} &middot; compared with
{_e(r.previous.id)} &middot; generated {_e(fmt.when(r.generated_at))}</footer>
</body>
</html>
"""
