"""The benchmark's report keeps the median run of each load, and every rate."""

from __future__ import annotations

from bench.performance.report import Report, Row


def _row(name: str, rate: float) -> Row:
    return Row(
        name=name,
        system="PostgreSQL",
        requests=int(rate * 10),
        rate=rate,
        p50_ms=1.0,
        p99_ms=rate / 100,
        errors=0,
        server_cpu_ms=0.1,
        db_cpu_ms=0.1,
        load_cpu_share=0.2,
    )


def test_the_run_of_median_rate_stands_for_its_load_with_every_rate_kept() -> None:
    report = Report(setup={})
    report.rows = [_row("lookup", 900), _row("lookup", 500), _row("lookup", 700)]

    report.keep_medians()

    (row,) = report.rows
    assert row.rate == 700
    assert row.p99_ms == 7.0
    assert row.runs == (900, 500, 700)


def test_a_second_pass_keeps_the_rates_of_loads_already_reduced() -> None:
    report = Report(setup={})
    report.rows = [_row("lookup", 900), _row("lookup", 500), _row("lookup", 700)]
    report.keep_medians()
    report.rows += [_row("create", 300), _row("create", 100), _row("create", 200)]

    report.keep_medians()

    runs = {row.name: row.runs for row in report.rows}
    assert runs == {"lookup": (900, 500, 700), "create": (300, 100, 200)}
