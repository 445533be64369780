//! Business hours: the clock that SLA targets are counted on. A calendar is a time zone,
//! opening hours for each day of the week, and holidays. Time is counted only while the
//! calendar is open, in real elapsed time: on the day the clocks spring forward, hours
//! from 02:00 to 05:00 are two hours long, and on the day they fall back, four.
//!
//! Pure code over instants (UTC microseconds, like [`Timestamp`]); the time zone rules
//! come from the IANA database bundled into the binary, so every machine agrees.

use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::time::Timestamp;

/// Minutes since local midnight: an opening time, or a closing time up to 24:00.
pub type Minute = u16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("{0}: an opening must be before its closing, within 00:00 to 24:00")]
    Interval(String),
    #[error("{0}: opening hours overlap")]
    Overlap(String),
    #[error("the calendar is never open")]
    NeverOpen,
    #[error("{0:?} is not a date (YYYY-MM-DD)")]
    Holiday(String),
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// How far the clock looks for the next opening before calling a calendar closed for good.
const HORIZON_DAYS: usize = 3 * 366;

/// A calendar as people write it (and the API takes it): a time zone, opening hours by
/// weekday name as `["09:00", "18:00"]` pairs, and holiday dates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    pub time_zone: String,
    #[serde(default)]
    pub week: std::collections::BTreeMap<String, Vec<(String, String)>>,
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn minute(day: &str, hhmm: &str) -> Result<Minute, CalendarError> {
    let bad = || CalendarError::Interval(format!("{day} {hhmm:?}"));
    let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl CalendarSpec {
    pub fn build(&self) -> Result<Calendar, CalendarError> {
        let mut week: [Vec<(Minute, Minute)>; 7] = Default::default();
        for (name, hours) in &self.week {
            let day = DAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(name))
                .ok_or_else(|| CalendarError::Interval(format!("{name} is not a weekday")))?;
            for (open, close) in hours {
                week[day].push((minute(name, open)?, minute(name, close)?));
            }
        }
        let holidays = self
            .holidays
            .iter()
            .map(|d| {
                d.parse::<Date>()
                    .map_err(|_| CalendarError::Holiday(d.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Calendar::new(&self.time_zone, week, holidays)
    }
}

#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    /// Opening hours by weekday, Monday first, sorted.
    week: [Vec<(Minute, Minute)>; 7],
    holidays: BTreeSet<Date>,
}

impl Calendar {
    /// `week[0]` is Monday. Intervals are `(open, close)` in minutes after midnight.
    pub fn new(
        time_zone: &str,
        week: [Vec<(Minute, Minute)>; 7],
        holidays: impl IntoIterator<Item = Date>,
    ) -> Result<Self, CalendarError> {
        let tz = TimeZone::get(time_zone).map_err(|_| CalendarError::TimeZone(time_zone.into()))?;
        let mut week = week;
        for (day, intervals) in week.iter_mut().enumerate() {
            intervals.sort_unstable();
            for &(open, close) in intervals.iter() {
                if open >= close || close > 24 * 60 {
                    return Err(CalendarError::Interval(DAYS[day].into()));
                }
            }
            if intervals.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(CalendarError::Overlap(DAYS[day].into()));
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(CalendarError::NeverOpen);
        }
        Ok(Self {
            tz,
            week,
            holidays: holidays.into_iter().collect(),
        })
    }

    /// Open every minute of every day.
    pub fn always(time_zone: &str) -> Result<Self, CalendarError> {
        Self::new(time_zone, std::array::from_fn(|_| vec![(0, 24 * 60)]), [])
    }

    fn date_of(&self, t: i64) -> Date {
        jiff::Timestamp::from_microsecond(t)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
            .date()
    }

    /// The instant a local wall-clock time on `date` names. A time skipped by a
    /// spring-forward change names the instant the clocks jumped to; a time repeated by a
    /// fall-back change names its first occurrence.
    fn instant(&self, date: Date, minute: Minute) -> i64 {
        let dt = if minute >= 24 * 60 {
            match date.tomorrow() {
                Ok(next) => next.at(0, 0, 0, 0),
                Err(_) => return i64::MAX,
            }
        } else {
            date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0)
        };
        self.tz
            .to_ambiguous_timestamp(dt)
            .compatible()
            .map(|t| t.as_microsecond())
            .unwrap_or(i64::MAX)
    }

    /// The open intervals of one local date, as instants, in order.
    fn open_on(&self, date: Date) -> Vec<(i64, i64)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let day = date.weekday().to_monday_zero_offset() as usize;
        self.week[day]
            .iter()
            .map(|&(open, close)| (self.instant(date, open), self.instant(date, close)))
            .filter(|(s, e)| s < e)
            .collect()
    }

    /// Whether the calendar is open at `t`.
    pub fn is_open(&self, t: Timestamp) -> bool {
        let t = t.micros();
        self.open_on(self.date_of(t))
            .iter()
            .any(|&(s, e)| s <= t && t < e)
    }

    /// The instant when `business` microseconds of open time have passed since `start`.
    /// The clock starts at the next opening when `start` is outside hours; a zero
    /// duration gives that opening.
    pub fn add(&self, start: Timestamp, business: i64) -> Result<Timestamp, CalendarError> {
        let start = start.micros();
        let mut remaining = business.max(0);
        let mut date = self.date_of(start);
        for _ in 0..HORIZON_DAYS {
            for (s, e) in self.open_on(date) {
                if e <= start {
                    continue;
                }
                let s = s.max(start);
                if remaining < e - s || (remaining == e - s && remaining > 0) {
                    return Ok(Timestamp(s + remaining));
                }
                remaining -= e - s;
            }
            date = date.tomorrow().map_err(|_| CalendarError::NeverOpen)?;
        }
        Err(CalendarError::NeverOpen)
    }

    /// The latest instant from which `business` microseconds of open time end at `end`:
    /// where a warning "one business hour before the deadline" belongs.
    pub fn subtract(&self, end: Timestamp, business: i64) -> Result<Timestamp, CalendarError> {
        let end = end.micros();
        let mut remaining = business.max(0);
        let mut date = self.date_of(end);
        for _ in 0..HORIZON_DAYS {
            for (s, e) in self.open_on(date).into_iter().rev() {
                if s >= end {
                    continue;
                }
                let e = e.min(end);
                if remaining <= e - s {
                    return Ok(Timestamp(e - remaining));
                }
                remaining -= e - s;
            }
            date = date.yesterday().map_err(|_| CalendarError::NeverOpen)?;
        }
        Err(CalendarError::NeverOpen)
    }

    /// Open time between `from` and `to`, in microseconds (zero if `to` is not later).
    pub fn between(&self, from: Timestamp, to: Timestamp) -> i64 {
        let (from, to) = (from.micros(), to.micros());
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = self.date_of(from);
        let last = self.date_of(to);
        loop {
            for (s, e) in self.open_on(date) {
                let (s, e) = (s.max(from), e.min(to));
                if s < e {
                    total += e - s;
                }
            }
            if date >= last {
                return total;
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => return total,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000_000;
    const MINUTE: i64 = 60_000_000;

    fn at(tz: &str, local: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = local.parse().unwrap();
        let t = TimeZone::get(tz).unwrap().to_timestamp(dt).unwrap();
        Timestamp(t.as_microsecond())
    }

    fn local(tz: &str, t: Timestamp) -> String {
        jiff::Timestamp::from_microsecond(t.micros())
            .unwrap()
            .to_zoned(TimeZone::get(tz).unwrap())
            .datetime()
            .to_string()
    }

    fn weekdays(open: Minute, close: Minute) -> [Vec<(Minute, Minute)>; 7] {
        std::array::from_fn(|d| if d < 5 { vec![(open, close)] } else { vec![] })
    }

    const ATHENS: &str = "Europe/Athens";

    #[test]
    fn friday_evening_before_a_holiday_monday_is_due_on_tuesday() {
        // Fri 2026-11-27 17:55; Monday 30 November is a holiday.
        let holiday: Date = "2026-11-30".parse().unwrap();
        let c = Calendar::new(ATHENS, weekdays(9 * 60, 18 * 60), [holiday]).unwrap();
        let start = at(ATHENS, "2026-11-27T17:55");
        let due = c.add(start, HOUR).unwrap();
        assert_eq!(local(ATHENS, due), "2026-12-01T09:55:00");
        assert_eq!(c.between(start, due), HOUR);
    }

    #[test]
    fn a_clock_started_outside_hours_starts_at_the_next_opening() {
        let c = Calendar::new(ATHENS, weekdays(9 * 60, 18 * 60), []).unwrap();
        let saturday = at(ATHENS, "2026-11-28T10:00");
        assert_eq!(
            local(ATHENS, c.add(saturday, 0).unwrap()),
            "2026-11-30T09:00:00"
        );
        assert_eq!(
            local(ATHENS, c.add(saturday, HOUR).unwrap()),
            "2026-11-30T10:00:00"
        );
        let night = at(ATHENS, "2026-11-25T23:00");
        assert_eq!(
            local(ATHENS, c.add(night, 30 * MINUTE).unwrap()),
            "2026-11-26T09:30:00"
        );
    }

    #[test]
    fn a_warning_before_an_early_deadline_falls_in_the_previous_evening() {
        let c = Calendar::new(ATHENS, weekdays(9 * 60, 18 * 60), []).unwrap();
        let deadline = at(ATHENS, "2026-11-24T09:30");
        let warning = c.subtract(deadline, HOUR).unwrap();
        assert_eq!(local(ATHENS, warning), "2026-11-23T17:30:00");
        assert!(c.is_open(warning));
    }

    #[test]
    fn spring_forward_and_fall_back_count_real_time() {
        // Athens: 2026-03-29 03:00 becomes 04:00; 2026-10-25 04:00 becomes 03:00.
        let mut week: [Vec<(Minute, Minute)>; 7] = Default::default();
        week[6] = vec![(2 * 60, 5 * 60)]; // Sundays 02:00 to 05:00
        let c = Calendar::new(ATHENS, week, []).unwrap();
        let spring = at(ATHENS, "2026-03-29T00:00");
        assert_eq!(
            c.between(spring, Timestamp(spring.micros() + 24 * HOUR)),
            2 * HOUR
        );
        let fall = at(ATHENS, "2026-10-25T00:00");
        assert_eq!(
            c.between(fall, Timestamp(fall.micros() + 25 * HOUR)),
            4 * HOUR
        );
        // Round the clock, business time is real time across both changes.
        let always = Calendar::always(ATHENS).unwrap();
        let before = at(ATHENS, "2026-03-28T23:00");
        assert_eq!(
            always.add(before, 6 * HOUR).unwrap().micros(),
            before.micros() + 6 * HOUR
        );
        assert_eq!(
            local(ATHENS, always.add(before, 6 * HOUR).unwrap()),
            "2026-03-29T06:00:00"
        );
    }

    #[test]
    fn a_holiday_in_the_middle_of_a_clock_is_skipped() {
        let holiday: Date = "2026-11-25".parse().unwrap();
        let c = Calendar::new(ATHENS, weekdays(9 * 60, 17 * 60), [holiday]).unwrap();
        let start = at(ATHENS, "2026-11-24T09:00");
        // Two business days: Tuesday, then (Wednesday is a holiday) Thursday.
        assert_eq!(
            local(ATHENS, c.add(start, 16 * HOUR).unwrap()),
            "2026-11-26T17:00:00"
        );
    }

    #[test]
    fn calendars_are_read_as_people_write_them() {
        let spec: CalendarSpec = serde_json::from_str(
            r#"{"time_zone": "Asia/Kolkata", "week": {"monday": [["09:30", "13:00"], ["14:00", "24:00"]]}, "holidays": ["2026-01-26"]}"#,
        )
        .unwrap();
        let c = spec.build().unwrap();
        assert_eq!(c.week[0], vec![(570, 780), (840, 1440)]);
        let bad = CalendarSpec {
            week: [("funday".to_string(), vec![])].into(),
            ..spec.clone()
        };
        assert!(bad.build().is_err());
        let bad = CalendarSpec {
            holidays: vec!["26/01/2026".into()],
            ..spec.clone()
        };
        assert_eq!(
            bad.build().unwrap_err(),
            CalendarError::Holiday("26/01/2026".into())
        );
        let bad = CalendarSpec {
            week: [("monday".to_string(), vec![("9".into(), "10:00".into())])].into(),
            ..spec
        };
        assert!(bad.build().is_err());
    }

    #[test]
    fn bad_calendars_are_refused() {
        assert!(matches!(
            Calendar::always("Mars/Olympus"),
            Err(CalendarError::TimeZone(_))
        ));
        let mut week: [Vec<(Minute, Minute)>; 7] = Default::default();
        week[0] = vec![(9 * 60, 8 * 60)];
        assert_eq!(
            Calendar::new(ATHENS, week, []).unwrap_err(),
            CalendarError::Interval("monday".into())
        );
        let mut week: [Vec<(Minute, Minute)>; 7] = Default::default();
        week[2] = vec![(9 * 60, 13 * 60), (12 * 60, 18 * 60)];
        assert_eq!(
            Calendar::new(ATHENS, week, []).unwrap_err(),
            CalendarError::Overlap("wednesday".into())
        );
        assert_eq!(
            Calendar::new(ATHENS, Default::default(), []).unwrap_err(),
            CalendarError::NeverOpen
        );
    }

    const ZONES: &[&str] = &[
        "Europe/Athens",
        "America/New_York",
        "Asia/Kolkata",
        "Asia/Manila",
        "Australia/Lord_Howe", // a half-hour daylight-saving change
        "UTC",
    ];

    fn calendar() -> impl Strategy<Value = Calendar> {
        (
            0..ZONES.len(),
            0..4usize,
            proptest::collection::vec(0u32..730, 0..8),
        )
            .prop_map(|(zone, shape, holidays)| {
                let week: [Vec<(Minute, Minute)>; 7] = match shape {
                    0 => weekdays(9 * 60, 17 * 60 + 30),
                    1 => std::array::from_fn(|d| {
                        if d < 6 {
                            vec![(8 * 60, 12 * 60), (13 * 60, 18 * 60)]
                        } else {
                            vec![]
                        }
                    }),
                    2 => std::array::from_fn(|_| vec![(0, 24 * 60)]),
                    // Night shifts over the daylight-saving hours.
                    _ => std::array::from_fn(|d| if d >= 5 { vec![(60, 6 * 60)] } else { vec![] }),
                };
                let first: Date = "2026-01-01".parse().unwrap();
                let holidays = holidays.into_iter().map(|d| {
                    first
                        .checked_add(jiff::Span::new().days(i64::from(d)))
                        .unwrap()
                });
                Calendar::new(ZONES[zone], week, holidays).unwrap()
            })
    }

    /// Instants across 2026 and 2027, every daylight-saving change of those years included.
    fn instant() -> impl Strategy<Value = Timestamp> {
        let from = at("UTC", "2026-01-01T00:00").micros();
        (0i64..(2 * 365 * 24 * 60)).prop_map(move |m| Timestamp(from + m * MINUTE))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn adding_then_measuring_gives_the_duration_back(c in calendar(), start in instant(), minutes in 0i64..(80 * 60)) {
            let d = minutes * MINUTE;
            let due = c.add(start, d).unwrap();
            prop_assert!(due >= start);
            prop_assert_eq!(c.between(start, due), d);
            if d > 0 {
                // The last minute counted was an open one.
                prop_assert!(c.is_open(Timestamp(due.micros() - MINUTE)));
            }
        }

        #[test]
        fn longer_targets_are_never_due_earlier(c in calendar(), start in instant(), a in 0i64..4000, b in 0i64..4000) {
            let (short, long) = (a.min(b) * MINUTE, a.max(b) * MINUTE);
            prop_assert!(c.add(start, short).unwrap() <= c.add(start, long).unwrap());
        }

        #[test]
        fn warnings_fall_in_open_hours_before_the_deadline(c in calendar(), start in instant(), target in 60i64..(40 * 60), before in 1i64..60) {
            let deadline = c.add(start, target * MINUTE).unwrap();
            let warning = c.subtract(deadline, before * MINUTE).unwrap();
            prop_assert!(warning < deadline);
            prop_assert!(c.is_open(warning));
            prop_assert_eq!(c.between(warning, deadline), before * MINUTE);
        }
    }
}
