"""The dashboard's spending chart, drawn on the server as SVG: no script, no library.

`stacked_bars` turns (day, series, value) rows into geometry a template draws: one bar per
day, stacked by series, with a y axis that ends on a round number.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

WIDTH, HEIGHT = 600, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 12, 34
MAX_SERIES = 5  # more series than this: the smallest are drawn together as "Other"
OTHER = "Other"


@dataclass
class Segment:
    series: int
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: float = HEIGHT - BOTTOM
    right: float = WIDTH - RIGHT
    segments: list[Segment] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)  # y axis: value and y
    labels: list[dict] = field(default_factory=list)  # x axis: text and x
    legend: list[dict] = field(default_factory=list)  # series, name, total
    days: list[dict] = field(default_factory=list)  # per day: date and total (the table)
    total: int = 0


def nice_ceiling(value: float, ticks: int = 4) -> int:
    """The top of an axis at or above `value` split into `ticks` whole, round steps
    (1, 2 or 5 x 10^n; 25, 250… too): 3 -> 4, 7 -> 8, 11 -> 20, 101 -> 200."""
    wanted = max(value / ticks, 1)
    magnitude = 1
    while magnitude * 10 < wanted:
        magnitude *= 10
    steps = (1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)
    step = next(s * magnitude for s in steps if s * magnitude >= wanted)
    return int(step * ticks)


def day_range(last: date, count: int) -> list[date]:
    return [last - timedelta(days=count - 1 - i) for i in range(count)]


def stacked_bars(
    rows: list[tuple[date, str, int]], *, days: list[date], name_of=str, unit: str = "credits"
) -> Chart:
    """A stacked bar per day of `days` from (day, series key, value) rows."""
    totals: dict[str, int] = {}
    for _, key, value in rows:
        totals[key] = totals.get(key, 0) + value
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    shown = ranked if len(ranked) <= MAX_SERIES + 1 else ranked[:MAX_SERIES]
    index = {key: i for i, key in enumerate(shown)}
    other = len(shown)  # the series index of everything else

    per_day: dict[date, dict[int, int]] = {day: {} for day in days}
    for day, key, value in rows:
        if day in per_day:
            series = index.get(key, other)
            per_day[day][series] = per_day[day].get(series, 0) + value

    chart = Chart()
    names = [name_of(key) for key in shown] + ([OTHER] if len(shown) < len(ranked) else [])
    series_totals = [totals[key] for key in shown]
    if len(shown) < len(ranked):
        series_totals.append(sum(totals[k] for k in ranked[len(shown) :]))
    chart.legend = [
        {"series": i, "name": name, "total": total}
        for i, (name, total) in enumerate(zip(names, series_totals, strict=True))
    ]
    chart.total = sum(series_totals)

    top = nice_ceiling(max((sum(v.values()) for v in per_day.values()), default=0), 4)
    plot_height = chart.bottom - chart.top
    slot = (chart.right - LEFT) / max(len(days), 1)
    bar = max(slot * 0.68, 1.0)
    for step in range(5):
        value = top * step // 4
        chart.ticks.append(
            {
                "value": f"{value:,}",
                "y": round(chart.bottom - plot_height * step / 4, 1),
            }
        )
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        stacked = chart.bottom
        day_total = 0
        for series in sorted(per_day[day]):
            value = per_day[day][series]
            height = plot_height * value / top
            stacked -= height
            day_total += value
            chart.segments.append(
                Segment(
                    series=series,
                    x=round(x, 1),
                    y=round(stacked, 1),
                    width=round(bar, 1),
                    height=round(height, 1),
                    title=f"{day:%b} {day.day}: {names[series]}, {value} {unit}",
                )
            )
        chart.days.append({"date": day, "total": day_total, "by": per_day[day]})
        if (len(days) - 1 - i) % 7 == 0:  # the last day, and every week back from it
            chart.labels.append({"text": f"{day:%b} {day.day}", "x": round(x + bar / 2, 1)})
    return chart
