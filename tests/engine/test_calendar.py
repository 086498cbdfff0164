"""Working-day calendar: 工作日, 工作时, 调休, yearly import and export."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import yaml
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

from engine.errors import EngineError
from engine.org import calendar as calendar_module
from engine.org.calendar import (
    CalendarDay,
    DayKind,
    WorkCalendar,
    export_year,
    get_calendar,
    import_year,
    load_calendar,
    parse_calendar_file,
)

CST = ZoneInfo("Asia/Shanghai")
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "calendar_2027.yaml"
HOURS = "08:30-12:00,14:00-17:30"


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    # The one table, without the metadata-wide hooks other tables add (triggers on instances).
    CalendarDay.__table__.create(engine)
    with Session(engine) as s:
        yield s
        s.rollback()
    engine.dispose()


def rows(session) -> list[tuple]:
    return [(r.day, r.kind, r.name, r.source) for r in session.scalars(select(CalendarDay).order_by(CalendarDay.day))]


# --- working days ------------------------------------------------------------------------------


def test_add_workdays_across_national_day_2025_counts_adjusted_saturday():
    # The shipped 2025 arrangement: Oct 1–8 off, Sun Sep 28 and Sat Oct 11 worked.
    assert [chinese_calendar.is_workday(date(2025, 10, d)) for d in range(1, 9)] == [False] * 8
    assert chinese_calendar.is_workday(date(2025, 9, 28)) and date(2025, 9, 28).weekday() == 6
    assert chinese_calendar.is_workday(date(2025, 10, 11)) and date(2025, 10, 11).weekday() == 5
    assert not chinese_calendar.is_workday(date(2025, 10, 12))

    due = WorkCalendar().add_workdays(at(2025, 9, 30, 10, 0), 5)

    # Counted: Oct 9 (Thu), 10 (Fri), 11 (Sat, 调休), 13 (Mon), 14 (Tue).
    assert due == at(2025, 10, 14, 17, 30)
    assert due == datetime(2025, 10, 14, 9, 30, tzinfo=timezone.utc)
    assert due.tzinfo == timezone.utc


def test_is_workday_adjusted_weekend_holiday_weekday_and_plain_weekend():
    cal = WorkCalendar()
    assert cal.is_workday(date(2025, 10, 11)) is True  # Saturday, 调休上班
    assert cal.is_workday(date(2025, 9, 28)) is True  # Sunday, 调休上班
    assert cal.is_workday(date(2025, 10, 8)) is False  # Wednesday, 国庆节
    assert cal.is_workday(date(2025, 10, 18)) is False  # ordinary Saturday
    assert cal.is_workday(date(2025, 10, 19)) is False  # ordinary Sunday
    assert cal.is_workday(date(2025, 10, 15)) is True  # ordinary Wednesday
    assert cal.holiday_name(date(2025, 10, 8)) == "国庆节"
    assert cal.holiday_name(date(2025, 10, 6)) == "中秋节"
    assert cal.holiday_name(date(2025, 10, 18)) is None
    assert cal.holiday_name(date(2025, 10, 11)) is None


def test_is_workday_takes_an_aware_datetime_on_its_local_date():
    cal = WorkCalendar()
    # 2025-09-30 17:00 UTC is already Oct 1 in Shanghai.
    assert cal.is_workday(datetime(2025, 9, 30, 17, 0, tzinfo=timezone.utc)) is False
    assert cal.is_workday(datetime(2025, 9, 30, 15, 0, tzinfo=timezone.utc)) is True


def test_add_workdays_zero_and_boundaries():
    cal = WorkCalendar()
    assert cal.add_workdays(at(2025, 10, 15, 9, 0), 0) == at(2025, 10, 15, 17, 30)
    # n=0 is the end of the start day even when the start is already past it.
    assert cal.add_workdays(at(2025, 10, 15, 20, 0), 0) == at(2025, 10, 15, 17, 30)
    assert cal.add_workdays(at(2025, 10, 3, 9, 0), 0) == at(2025, 10, 9, 17, 30)
    assert cal.add_workdays(at(2025, 10, 18, 9, 0), 0) == at(2025, 10, 20, 17, 30)
    # The start day is never counted, whatever the time of day.
    assert cal.add_workdays(at(2025, 10, 15, 0, 1), 1) == at(2025, 10, 16, 17, 30)
    assert cal.add_workdays(at(2025, 10, 15, 23, 59), 1) == at(2025, 10, 16, 17, 30)
    # The local date decides: 17:00 UTC on Sep 30 is Oct 1 in Shanghai.
    assert cal.add_workdays(datetime(2025, 9, 30, 17, 0, tzinfo=timezone.utc), 1) == at(2025, 10, 9, 17, 30)


def test_add_workdays_ends_at_the_last_configured_period():
    cal = WorkCalendar(work_hours="09:00-12:00,13:00-18:00")
    assert cal.add_workdays(at(2025, 10, 15, 9, 0), 1) == at(2025, 10, 16, 18, 0)


def test_add_workdays_rejects_negative_and_naive():
    cal = WorkCalendar()
    with pytest.raises(EngineError) as err:
        cal.add_workdays(at(2025, 10, 15), -1)
    assert "非负整数" in err.value.message
    with pytest.raises(EngineError) as err:
        cal.add_workdays(datetime(2025, 10, 15, 9, 0), 1)
    assert "时区" in err.value.message
    assert err.value.message_en == "an aware datetime is required"


def test_add_250_workdays_matches_chinese_calendar():
    cal = WorkCalendar()
    due = cal.add_workdays(at(2025, 1, 2, 9, 0), 250)
    assert chinese_calendar.find_workday(250, date(2025, 1, 2)) == date(2026, 1, 6)
    assert due == at(2026, 1, 6, 17, 30)
    assert cal.workdays_between(at(2025, 1, 2, 9, 0), due) == 250


def test_workdays_between_counts_after_a_up_to_b_and_is_signed():
    cal = WorkCalendar()
    due, now = at(2025, 9, 30, 17, 30), at(2025, 10, 13, 9, 0)
    assert cal.workdays_between(due, now) == 4  # Oct 9, 10, 11 (调休), 13
    assert cal.workdays_between(now, due) == -4
    assert cal.workdays_between(due, at(2025, 9, 30, 23, 0)) == 0
    assert cal.workdays_between(due, at(2025, 10, 8, 12, 0)) == 0


# --- working hours -----------------------------------------------------------------------------


def test_workhours_across_the_lunch_break():
    cal = WorkCalendar()
    assert cal.add_workhours(at(2025, 11, 17, 11, 0), 2) == at(2025, 11, 17, 15, 0)
    assert cal.add_workhours(at(2025, 11, 17, 11, 0), 1) == at(2025, 11, 17, 12, 0)
    assert cal.add_workhours(at(2025, 11, 17, 12, 30), 1) == at(2025, 11, 17, 15, 0)
    assert cal.add_workhours(at(2025, 11, 17, 10, 0), 0.5) == at(2025, 11, 17, 10, 30)


def test_workhours_across_a_weekend():
    cal = WorkCalendar()
    result = cal.add_workhours(at(2025, 11, 14, 16, 30), 2)  # Friday
    assert result == at(2025, 11, 17, 9, 30)  # Monday
    assert result.tzinfo == timezone.utc


def test_workhours_across_a_holiday_and_onto_an_adjusted_sunday():
    cal = WorkCalendar()
    assert cal.add_workhours(at(2025, 9, 30, 17, 0), 1) == at(2025, 10, 9, 9, 0)
    # Fri Sep 26 16:30 + 2h lands on Sun Sep 28, a 调休 working day.
    assert cal.add_workhours(at(2025, 9, 26, 16, 30), 2) == at(2025, 9, 28, 9, 30)


def test_workhours_starting_before_and_after_working_time():
    cal = WorkCalendar()
    assert cal.add_workhours(at(2025, 11, 17, 7, 0), 1) == at(2025, 11, 17, 9, 30)
    assert cal.add_workhours(at(2025, 11, 17, 19, 0), 1) == at(2025, 11, 18, 9, 30)
    assert cal.add_workhours(at(2025, 11, 17, 19, 0), 0) == at(2025, 11, 18, 8, 30)
    # A full working day is 7 hours.
    assert cal.add_workhours(at(2025, 11, 17, 8, 30), 7) == at(2025, 11, 17, 17, 30)
    assert cal.add_workhours(at(2025, 11, 17, 8, 30), 7.5) == at(2025, 11, 18, 9, 0)


def test_workhours_rejects_negative_and_naive():
    cal = WorkCalendar()
    with pytest.raises(EngineError):
        cal.add_workhours(at(2025, 11, 17, 9, 0), -1)
    with pytest.raises(EngineError):
        cal.add_workhours(datetime(2025, 11, 17, 9, 0), 1)


def test_urgent_hours_count_every_hour():
    cal = WorkCalendar()
    result = cal.add_urgent_hours(at(2025, 9, 30, 22, 0), 4)
    assert result == at(2025, 10, 1, 2, 0)
    assert result == datetime(2025, 9, 30, 18, 0, tzinfo=timezone.utc)
    assert result.tzinfo == timezone.utc
    with pytest.raises(EngineError):
        cal.add_urgent_hours(datetime(2025, 9, 30, 22, 0), 4)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("25:00-26:00", "25:00-26:00"),
        ("08:30-12:00,11:00-13:00", "11:00-13:00"),
        ("12:00-08:30", "12:00-08:30"),
        ("08:30-12:00,nine-five", "nine-five"),
        ("", "为空"),
    ],
)
def test_invalid_work_hours_name_the_bad_part(spec, named):
    with pytest.raises(EngineError) as err:
        WorkCalendar(work_hours=spec)
    assert named in err.value.message
    assert len(err.value.details) == 1
    assert err.value.details[0].field == "work_hours"


def test_unknown_time_zone_is_an_engine_error():
    with pytest.raises(EngineError) as err:
        WorkCalendar(tz="Mars/Olympus")
    assert "Mars/Olympus" in err.value.message


def test_year_without_arrangement_falls_back_to_monday_to_friday():
    cal = WorkCalendar()
    assert cal.has_arrangement(2099) is False
    assert 2099 not in cal.known_years()
    assert cal.has_arrangement(2025) is True
    assert cal.known_years()[2025] == "shipped"
    assert cal.is_workday(date(2099, 1, 1)) is True  # Thursday; no 元旦 data for 2099
    assert cal.is_workday(date(2099, 1, 3)) is False  # Saturday
    assert cal.holiday_name(date(2099, 1, 1)) is None
    assert cal.add_workdays(at(2099, 1, 2, 10, 0), 1) == at(2099, 1, 5, 17, 30)  # Fri → Mon
    assert export_year(None, cal=cal, year=2099) == {"year": 2099, "holidays": [], "workdays": []}


# --- import, export and the database -----------------------------------------------------------


def test_imported_year_overrides_and_reimport_replaces(session):
    before = load_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert before.is_workday(date(2027, 2, 8)) is True  # a Monday, ordinary without data
    assert before.is_workday(date(2027, 2, 14)) is False  # a Sunday

    year, holidays, workdays = parse_calendar_file(FIXTURE)
    assert import_year(session, year=year, holidays=holidays, workdays=workdays) == 35

    cal = load_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert cal.is_workday(date(2027, 2, 8)) is False
    assert cal.holiday_name(date(2027, 2, 8)) == "春节"
    assert cal.is_workday(date(2027, 2, 14)) is True
    assert cal.known_years()[2027] == "override"
    assert cal.add_workdays(at(2027, 2, 4, 10, 0), 1) == at(2027, 2, 14, 17, 30)
    assert rows(session)[0] == (date(2027, 1, 1), "holiday", "元旦", "import")
    assert len(rows(session)) == 35

    assert import_year(session, year=2027, holidays=[(date(2027, 1, 1), "元旦")], workdays=[],
                       source="admin") == 1
    assert rows(session) == [(date(2027, 1, 1), "holiday", "元旦", "admin")]
    again = load_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert again.is_workday(date(2027, 2, 8)) is True
    assert again.is_workday(date(2027, 2, 14)) is False


def test_imported_year_replaces_the_shipped_arrangement_of_that_year(session):
    shipped = WorkCalendar()
    holidays, workdays = shipped.arrangement(2025)
    corrected = [(d, n) for d, n in holidays if d != date(2025, 10, 8)]
    import_year(session, year=2025, holidays=corrected, workdays=workdays)

    cal = load_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert shipped.is_workday(date(2025, 10, 8)) is False
    assert cal.is_workday(date(2025, 10, 8)) is True
    assert cal.is_workday(date(2025, 10, 7)) is False
    assert cal.is_workday(date(2025, 10, 11)) is True
    assert cal.is_workday(date(2026, 1, 1)) is False  # other years keep the shipped data


def test_invalid_import_lists_each_bad_entry_and_changes_nothing(session):
    year, holidays, workdays = parse_calendar_file(FIXTURE)
    import_year(session, year=year, holidays=holidays, workdays=workdays)
    before = rows(session)

    with pytest.raises(EngineError) as err:
        import_year(
            session,
            year=2027,
            holidays=[(date(2027, 1, 1), "元旦"), (date(2028, 1, 1), "元旦"), (date(2027, 1, 1), "元旦"),
                      (date(2027, 2, 14), "春节")],
            workdays=[(date(2027, 2, 15), "春节调休"), (date(2027, 2, 14), "春节调休")],
        )

    assert rows(session) == before
    problems = [(p.field, p.message) for p in err.value.details]
    assert problems == [
        ("holidays[1]", "2028-01-01 不在 2027 年内"),
        ("holidays[2]", "2027-01-01 重复列出（holidays[0] 与 holidays[2]）"),
        ("workdays[0]", "2027-02-15（星期一）不是周末，调休上班日必须是周六或周日"),
        ("workdays[1]", "2027-02-14 既是放假日又是调休上班日（holidays[3] 与 workdays[1]）"),
    ]
    assert "4 处错误" in err.value.message


def test_import_rejects_an_empty_year_and_a_bad_year(session):
    with pytest.raises(EngineError) as err:
        import_year(session, year=2027, holidays=[], workdays=[])
    assert [p.field for p in err.value.details] == ["holidays"]
    with pytest.raises(EngineError) as err:
        import_year(session, year="2027", holidays=[(date(2027, 1, 1), "元旦")], workdays=[])
    assert [p.field for p in err.value.details] == ["year"]
    assert rows(session) == []


def test_parse_calendar_file_reports_each_error_with_its_line():
    text = (
        "holidays:\n"
        "  - {date: 2027-02-30, name: 春节}\n"
        "  - {from: 2027-02-12, to: 2027-02-06, name: 春节}\n"
        "  - {date: 2027-01-01, name: 元旦, note: x}\n"
        "workdays: []\n"
    )
    with pytest.raises(EngineError) as err:
        parse_calendar_file(text)
    found = [(p.line, p.message) for p in err.value.details]
    assert found == [
        (None, "缺少 year（年份），文件应以 year: 2027 这样的行开头"),
        (2, "日期无效：'2027-02-30'（应为 YYYY-MM-DD）"),
        (3, "from 2027-02-12 晚于 to 2027-02-06"),
        (4, "未知的键 'note'，可用：date、from、name、to"),
    ]
    assert "4 处错误" in err.value.message


def test_parse_calendar_file_reads_the_fixture_and_rejects_bad_yaml():
    year, holidays, workdays = parse_calendar_file(FIXTURE)
    assert year == 2027
    assert len(holidays) == 29
    assert holidays[3:5] == [(date(2027, 2, 5), "春节"), (date(2027, 2, 6), "春节")]
    assert workdays[0] == (date(2027, 2, 14), "春节调休")
    assert parse_calendar_file(str(FIXTURE))[0] == 2027
    with pytest.raises(EngineError) as err:
        parse_calendar_file("year: 2027\nholidays: [\n")
    assert err.value.message == "日历文件不是有效的 YAML"


def test_export_then_reimport_round_trips(session):
    year, holidays, workdays = parse_calendar_file(FIXTURE)
    import_year(session, year=year, holidays=holidays, workdays=workdays)
    exported = export_year(session, year=2027)
    assert exported["holidays"][1] == {"from": date(2027, 2, 5), "to": date(2027, 2, 13), "name": "春节"}
    assert exported["workdays"][0] == {"date": date(2027, 2, 14), "name": "春节调休"}
    before = rows(session)

    text = yaml.safe_dump(exported, allow_unicode=True, sort_keys=False)
    import_year(session, **dict(zip(("year", "holidays", "workdays"), parse_calendar_file(text))))

    assert rows(session) == before
    assert export_year(session, year=2027) == exported


def test_export_of_a_shipped_year_reimports_to_the_same_working_days(session):
    exported = export_year(session, year=2025)
    assert {"from": date(2025, 10, 1), "to": date(2025, 10, 5), "name": "国庆节"} in exported["holidays"]
    assert {"date": date(2025, 10, 11), "name": "国庆节调休"} in exported["workdays"]

    year, holidays, workdays = parse_calendar_file(yaml.safe_dump(exported, allow_unicode=True))
    import_year(session, year=year, holidays=holidays, workdays=workdays)

    cal = load_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert cal.known_years()[2025] == "override"
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
    assert [cal.is_workday(d) for d in days] == [chinese_calendar.is_workday(d) for d in days]
    assert export_year(session, cal=cal, year=2025) == exported


# --- the per-process cache ---------------------------------------------------------------------


def test_get_calendar_caches_and_follows_local_imports(session):
    first = get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai") is first
    assert get_calendar(session, work_hours="09:00-17:00", tz="Asia/Shanghai") is not first

    import_year(session, year=2027, holidays=[(date(2027, 3, 1), "县庆")], workdays=[])

    fresh = get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert fresh is not first
    assert fresh.is_workday(date(2027, 3, 1)) is False


def test_get_calendar_picks_up_other_processes_changes_after_60_seconds(session, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(calendar_module, "_monotonic", lambda: now[0])
    cached = get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    # Another process's import: rows appear without this process's generation moving.
    session.execute(insert(CalendarDay).values(day=date(2027, 3, 1), kind=DayKind.HOLIDAY, name="县庆",
                                               source="import"))

    now[0] += 59
    assert get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai") is cached
    assert cached.is_workday(date(2027, 3, 1)) is True

    now[0] += 2
    reloaded = get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai")
    assert reloaded is not cached
    assert reloaded.is_workday(date(2027, 3, 1)) is False


def test_get_calendar_drops_an_import_that_was_rolled_back(session):
    import_year(session, year=2027, holidays=[(date(2027, 3, 1), "县庆")], workdays=[])
    assert get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai").is_workday(date(2027, 3, 1)) is False

    session.rollback()

    assert rows(session) == []
    assert get_calendar(session, work_hours=HOURS, tz="Asia/Shanghai").is_workday(date(2027, 3, 1)) is True
