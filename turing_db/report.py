"""A run's report as one self-contained HTML page: no network, its CSS, script and data inline.

`turing report --run ID --out report.html` writes it; `GET /` on a running process's health port
serves it for the live run, refreshing itself every few seconds. The numbers come from
`run_report()` in SQL (run_status() and a timeline, latency bands and tokens per actor); the tables
are written here, the charts drawn by the page's script from the same data (embedded as JSON), so
the page shows what the database said and nothing else.
"""

from __future__ import annotations

import html
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db import database

REFRESH_SECONDS = 5

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d2330; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 2em; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; } .card { background: #f3f5f9; padding: .7em 1em; border-radius: 6px; }
.card b { display: block; font-size: 1.4em; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e2e6ee; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } svg { width: 100%; height: auto; }
.bar { fill: #3d6fd9; } .bar.failed { fill: #d9453d; } .bar.ended { fill: #7a8599; } .axis { font-size: 11px; fill: #5b6475; }
.muted { color: #5b6475; }
"""

# draws every <svg data-chart> from the JSON in #report-data; marks each drawn one data-drawn="yes"
SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const ns = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    const node = document.createElementNS(ns, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function bars(svg, rows, label, value, cls) {
    const width = 1000, height = 220, left = 40, bottom = 30, top = 10;
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    const most = Math.max(1, ...rows.map(value));
    const step = (width - left) / Math.max(rows.length, 1);
    rows.forEach(function (row, i) {
      const h = (height - bottom - top) * value(row) / most;
      const bar = el('rect', {x: left + i * step + 1, y: height - bottom - h, width: Math.max(step - 2, 1), height: h,
                              class: 'bar ' + (cls ? cls(row) : '')}, svg);
      el('title', {}, bar).textContent = label(row) + ': ' + value(row);
      if (rows.length <= 8 || i % Math.ceil(rows.length / 8) === 0) {  // labels that do not overlap
        const text = label(row);
        el('text', {x: left + i * step + step / 2, y: height - 10, 'text-anchor': 'middle', class: 'axis'}, svg)
          .textContent = text.length > 24 ? text.slice(0, 23) + '…' : text;
      }
    });
    el('text', {x: 0, y: top + 10, class: 'axis'}, svg).textContent = String(most);
    svg.setAttribute('data-drawn', 'yes');
  }
  const charts = {
    throughput: function (svg) {
      bars(svg, data.timeline, function (r) { return (+r.second).toFixed(1) + ' s'; }, function (r) { return r.steps; });
    },
    funnel: function (svg) {
      const rows = [];
      data.conversations.forEach(function (c) {
        rows.push({name: c.conversation + ' moved on', n: c.completed, cls: ''});
        rows.push({name: c.conversation + ' ended', n: c.ended, cls: 'ended'});
        rows.push({name: c.conversation + ' failed', n: c.failed + c.quarantined, cls: 'failed'});
      });
      bars(svg, rows, function (r) { return r.name; }, function (r) { return r.n; }, function (r) { return r.cls; });
    },
    latency: function (svg) {
      bars(svg, data.latency, function (r) { return r.actor + (r.le_ms === null ? ' slower' : ' ≤' + r.le_ms + ' ms'); },
           function (r) { return r.calls; });
    }
  };
  document.querySelectorAll('svg[data-chart]').forEach(function (svg) { charts[svg.dataset.chart](svg); });
})();
"""


def report_data(engine: Engine, run_id: int, timeout_ms: int | None = None) -> dict[str, Any] | None:
    """run_report(run_id) from the database (cancelled after `timeout_ms`, when given); None when
    there is no such run."""
    with engine.begin() as conn:
        if timeout_ms is not None:
            conn.execute(
                text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_ms))}
            )
        return conn.execute(text("SELECT run_report(:run)"), {"run": run_id}).scalar_one()  # type: ignore[no-any-return]


def latest_run_id(engine: Engine) -> int | None:
    latest = database.latest_runs(engine, 1)
    return latest[0].workflow_run_id if latest else None


def render(data: dict[str, Any], live: bool = False) -> str:
    """The page for one run's report data; `live` adds a refresh every REFRESH_SECONDS."""
    run, progress, speed = data["run"], data["progress"], data["throughput"]
    title = f"Run {run['workflow_run_id']} of workflow {run['workflow_id']}"
    cards = [("status", run["status"]), ("seconds", f"{run['seconds']:.0f}"), ("done", progress["done"]),
             ("failed", progress["failed"]), ("quarantined", progress["quarantined"]),
             ("waiting", progress["waiting"] + progress["claimed"]), ("deferred", data["deferred"]),
             ("steps", speed["steps"]), ("steps/s", speed["steps_per_second"])]  # fmt: skip
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if live else "",
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">started {_e(_when(run["started_at"]))} UTC'
        + (f", finished {_e(_when(run['finished_at']))}" if run["finished_at"] else ", running")
        + ("; this page refreshes itself" if live else "")
        + "</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(value)}</b>{_e(name)}</div>' for name, value in cards)
        + "</div>",
        "<h2>Throughput over time (steps stored)</h2>",
        '<svg data-chart="throughput" id="throughput-chart"></svg>',
        "<h2>Conversations: entered, moved on, ended, failed</h2>",
        '<svg data-chart="funnel" id="funnel-chart"></svg>',
        _table(
            [
                "conversation",
                "entered",
                "moved on",
                "ended",
                "failed",
                "quarantined",
                "calls",
                "errors",
                "mean ms",
                "p95 ms",
            ],
            [
                [
                    c["conversation"],
                    c["completed"] + c["ended"] + c["failed"] + c["quarantined"],
                    c["completed"],
                    c["ended"],
                    c["failed"],
                    c["quarantined"],
                    c["calls"],
                    c["errors"],
                    c["avg_latency_ms"],
                    c["p95_latency_ms"],
                ]
                for c in data["conversations"]
            ],
        ),  # fmt: skip
        "<h2>Actor latency (calls by band)</h2>",
        '<svg data-chart="latency" id="latency-chart"></svg>',
        "<h2>Actors: calls and tokens</h2>",
        _table(
            ["actor", "calls", "errors", "tokens in", "tokens out", "mean ms", "p95 ms"],
            [
                [
                    t["actor"],
                    t["calls"],
                    t["errors"],
                    t["prompt_tokens"],
                    t["completion_tokens"],
                    t["mean_ms"],
                    t["p95_ms"],
                ]
                for t in data["tokens"]
            ],
        ),  # fmt: skip
        "<h2>Errors</h2>",
        _table(
            ["actor", "conversation", "kind", "errors", "example postings", "message"],
            [
                [
                    e["actor_name"],
                    e["conversation"],
                    e["error_kind"],
                    e["errors"],
                    ", ".join(str(p) for p in e["example_postings"]),
                    e["example_message"] or "",
                ]
                for e in data["errors"]
            ],
        )
        if data["errors"]
        else '<p class="muted">no errors</p>',  # fmt: skip
        '<script type="application/json" id="report-data">' + _script_json(data) + "</script>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(tag: str, value: Any) -> str:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return f"<{tag}{' class=n' if numeric else ''}>{'' if value is None else _e(value)}</{tag}>"

    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(cell("td", value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(timestamp: Any) -> str:
    return str(timestamp)[:19].replace("T", " ")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _script_json(data: dict[str, Any]) -> str:
    """JSON that cannot close its <script> element early (a posting's text may hold "</script>")."""
    return (
        json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
