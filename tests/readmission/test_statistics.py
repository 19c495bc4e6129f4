import datetime as dt

import pytest

from passage.readmission.statistics import CaseRecord, compute, percentile, period_of, to_csv_rows

D = dt.date


def rec(**kw):
    base = dict(agreement_id="eu-china-draft", requesting_state="NL", province="fujian", state="transferred", submitted_on=D(2024, 1, 10))
    base.update(kw)
    return CaseRecord(**base)


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5], 90) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([10, 1, 7], 90) == 10
    with pytest.raises(ValueError):
        percentile([1], 0)


def test_period_of():
    assert period_of(D(2024, 11, 5), "quarter") == "2024-Q4"
    assert period_of(D(2024, 1, 5), "month") == "2024-01"
    assert period_of(None, "year") is None


def test_figures_for_one_group():
    records = [
        rec(reply_started_on=D(2024, 1, 10), replied_on=D(2024, 1, 20), reply_due=D(2024, 2, 7), outcome="accepted", accepted_on=D(2024, 1, 20), travel_document_issued_on=D(2024, 1, 30), transfer_due=D(2024, 4, 19), transferred_on=D(2024, 3, 1)),
        rec(reply_started_on=D(2024, 1, 10), replied_on=D(2024, 2, 20), reply_due=D(2024, 2, 7), outcome="refused", refusal_reason="not_a_national"),
        rec(reply_started_on=D(2024, 1, 10), replied_on=D(2024, 1, 15), reply_due=D(2024, 2, 7), outcome="refused", refusal_reason="not_a_national"),
        rec(reply_due=D(2024, 2, 7), outcome="deemed_accepted", accepted_on=D(2024, 2, 8), travel_document_issued_on=D(2024, 2, 12), transfer_due=D(2024, 5, 8), transferred_on=D(2024, 5, 20)),
        rec(state="submitted"),
        rec(state="draft", submitted_on=None),
    ]
    [row] = compute(records)
    assert row.applications == 5
    assert row.replies == 3
    assert (row.reply_days_median, row.reply_days_p90) == (10.0, 41.0)
    assert row.answered_within_limit == 2 and row.answered_within_limit_share == round(2 / 4, 4)
    assert row.deemed_acceptances == 1
    assert row.refusals_by_reason == {"not_a_national": 2}
    assert row.travel_document_days_median == 4.0
    assert (row.transfers, row.transfers_within_window, row.transfers_within_window_share) == (2, 1, 0.5)
    assert row.outcomes == {"accepted": 1, "deemed_accepted": 1, "pending": 1, "refused": 2}


def test_grouping_and_csv():
    records = [rec(province="fujian"), rec(province="zhejiang"), rec(province="zhejiang", requesting_state="FR", submitted_on=D(2024, 4, 1))]
    rows = compute(records, group_by=("province",))
    assert [(r.group["province"], r.applications) for r in rows] == [("fujian", 1), ("zhejiang", 2)]
    rows = compute(records, group_by=("requesting_state", "period"), granularity="quarter")
    assert [(r.group["requesting_state"], r.group["period"]) for r in rows] == [("FR", "2024-Q2"), ("NL", "2024-Q1")]
    csv_rows = to_csv_rows(rows, ("requesting_state", "period"))
    assert csv_rows[0][:3] == ["requesting_state", "period", "applications"]
    assert csv_rows[1][:3] == ["FR", "2024-Q2", "1"]
    assert "pending=1" in csv_rows[1]
    with pytest.raises(ValueError):
        compute(records, group_by=("colour",))
