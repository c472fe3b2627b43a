"""The analytics page (docs/analytics.md): figures from ``helpdesk.analytics`` for a date range,
drawn with Chart.js (served from static, installed by npm), and the same figures as CSV."""

import csv
from datetime import date, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from helpdesk.analytics import Period, analytics_get
from helpdesk.selectors import user_is_agent

DEFAULT_DAYS = 30
MAX_DAYS = 366
# Nothing here predates it; and a date near 0001-01-01 has no day before it to start from
# (``end - 29 days`` raised OverflowError, a 500).
MIN_DATE = date(2000, 1, 1)


class PeriodForm(forms.Form):
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            if data.get(name) and data[name] < MIN_DATE:
                self.add_error(name, f"The {name} must be on or after {MIN_DATE.isoformat()}.")
        if self.errors:
            return data
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start must not be after the end.")
        if end > timezone.localdate() + timedelta(days=MAX_DAYS):
            # Nothing has happened there yet, and a date near 9999-12-31 has no next day to end on.
            raise forms.ValidationError("The end must be at most a year from today.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["period"] = Period(start=start, end=end)
        return data


def _period(request: HttpRequest) -> tuple[PeriodForm, Period]:
    form = PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["period"]
    end = timezone.localdate()
    fallback = Period(start=end - timedelta(days=DEFAULT_DAYS - 1), end=end)
    if not form.is_bound:
        form = PeriodForm(initial={"start": fallback.start, "end": fallback.end})
    return form, fallback


@require_safe
@login_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    if not user_is_agent(user=request.user):
        return render(request, "console/forbidden.html", status=403)
    form, period = _period(request)
    status = 400 if form.is_bound and form.errors else 200
    figures = analytics_get(period=period)
    return render(request, "console/analytics.html", {"form": form, "figures": figures}, status=status)


def analytics_rows(figures: dict) -> list[tuple[str, str, str, object]]:
    """Every figure as (section, name, day, value): one long table, days blank for totals."""
    rows: list[tuple[str, str, str, object]] = []
    conversations = figures["conversations"]
    for item in conversations["per_day"]:
        for key in ("count", "resolved_by_ai", "escalated", "automation_rate", "escalation_rate"):
            rows.append(("conversations", key, item["day"], item[key]))
    for key in ("total", "resolved_by_ai", "automation_rate", "escalated", "escalation_rate"):
        rows.append(("conversations", key, "", conversations[key]))
    for measure, by_who in figures["response_times"].items():
        for who, stats in by_who.items():
            for stat, value in stats.items():
                rows.append((measure, f"{who}_{stat}_seconds", "", value))
    for scope, stats in figures["csat"].items():
        for key, value in stats.items():
            rows.append(("csat", f"{scope}_{key}", "", value))
    turns = figures["turns"]
    rows += [("intents", item["intent"], "", item["count"]) for item in turns["intents"]]
    for series, section in (("sentiment_per_day", "sentiment"), ("escalation_reasons_per_day", "escalation_reasons")):
        for key, counts in turns[series].items():
            rows += [(section, key, day, count) for day, count in zip(figures["days"], counts, strict=True)]
    rows += [("qa_score", str(item["score"]), "", item["count"]) for item in turns["qa_histogram"]]
    for item in figures["llm"]["per_day"]:
        for key in ("calls", "prompt_tokens", "completion_tokens", "cost"):
            rows.append(("llm", key, item["day"], item[key]))
    rows += [("knowledge_gaps", gap["question"], "", gap["count"]) for gap in figures["knowledge_gaps"]]
    for agent in figures["agents"]:
        for key in ("conversations", "resolved", "replies", "first_reply_p50"):
            rows.append(("agents", f"{agent['username']}.{key}", "", agent[key]))
        rows.append(("agents", f"{agent['username']}.csat_score", "", agent["csat"]["score"]))
    return rows


def _csv_safe(value: object) -> object:
    # A spreadsheet runs a cell that starts with = + - @ as a formula; customers write the gap questions.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_safe
@login_required
def analytics_export(request: HttpRequest) -> HttpResponse:
    if not user_is_agent(user=request.user):
        return HttpResponse("Only agents and staff can export analytics.", status=403, content_type="text/plain")
    form, period = _period(request)
    if form.is_bound and form.errors:
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"analytics-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(["section", "name", "day", "value"])
    for row in analytics_rows(analytics_get(period=period)):
        writer.writerow([_csv_safe(cell) for cell in row])
    return response
