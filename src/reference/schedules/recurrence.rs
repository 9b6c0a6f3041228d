//! A schedule's rule: weekly on some weekdays, or monthly on a day (the
//! month's last day when it is shorter), and the dates it gives.

use crate::error::{AppError, AppResult};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freq {
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    pub freq: Freq,
    /// Weekly: the days, 1 = Monday ... 7 = Sunday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<u8>>,
    /// Monthly: the day of the month; in a shorter month, its last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_day: Option<u8>,
}

impl Recurrence {
    /// Checks the recurrence and puts it in one form (weekdays sorted,
    /// once each).
    pub fn checked(mut self) -> AppResult<Recurrence> {
        match self.freq {
            Freq::Weekly => {
                let mut days = self.weekdays.take().unwrap_or_default();
                days.sort_unstable();
                days.dedup();
                if days.is_empty() || days.iter().any(|d| !(1..=7).contains(d)) {
                    return Err(AppError::invalid(
                        "recurrence.weekdays",
                        "a weekly schedule needs weekdays, each 1 (Monday) to 7 (Sunday)",
                    ));
                }
                if self.month_day.is_some() {
                    return Err(AppError::invalid(
                        "recurrence.month_day",
                        "only a monthly schedule has a month_day",
                    ));
                }
                self.weekdays = Some(days);
            }
            Freq::Monthly => {
                if !self.month_day.is_some_and(|d| (1..=31).contains(&d)) {
                    return Err(AppError::invalid(
                        "recurrence.month_day",
                        "a monthly schedule needs a month_day from 1 to 31",
                    ));
                }
                if self.weekdays.as_ref().is_some_and(|w| !w.is_empty()) {
                    return Err(AppError::invalid(
                        "recurrence.weekdays",
                        "only a weekly schedule has weekdays",
                    ));
                }
                self.weekdays = None;
            }
        }
        Ok(self)
    }

    /// Whether a route falls on this date.
    pub fn occurs(&self, d: NaiveDate) -> bool {
        match self.freq {
            Freq::Weekly => self
                .weekdays
                .as_ref()
                .is_some_and(|w| w.contains(&(d.weekday().number_from_monday() as u8))),
            Freq::Monthly => self
                .month_day
                .is_some_and(|m| d.day() == u32::from(m).min(last_day_of_month(d))),
        }
    }

    /// The dates from `from` to `to`, both included, that get a route.
    pub fn dates(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter(|d| self.occurs(*d))
            .collect()
    }
}

fn last_day_of_month(d: NaiveDate) -> u32 {
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    first_next
        .and_then(|f| f.pred_opt())
        .map_or(28, |l| l.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn weekly(days: &[u8]) -> Recurrence {
        Recurrence {
            freq: Freq::Weekly,
            weekdays: Some(days.to_vec()),
            month_day: None,
        }
        .checked()
        .unwrap()
    }

    fn monthly(day: u8) -> Recurrence {
        Recurrence {
            freq: Freq::Monthly,
            weekdays: None,
            month_day: Some(day),
        }
        .checked()
        .unwrap()
    }

    #[test]
    fn weekly_across_a_month_boundary() {
        // 2026-11-30 is a Monday; Tuesdays and Fridays from then on.
        let r = weekly(&[5, 2, 2]);
        assert_eq!(r.weekdays, Some(vec![2, 5]));
        assert_eq!(
            r.dates(d("2026-11-27"), d("2026-12-08")),
            vec![
                d("2026-11-27"),
                d("2026-12-01"),
                d("2026-12-04"),
                d("2026-12-08")
            ]
        );
    }

    #[test]
    fn monthly_on_a_day_a_month_lacks_takes_its_last_day() {
        let r = monthly(31);
        assert_eq!(
            r.dates(d("2026-11-01"), d("2027-03-31")),
            vec![
                d("2026-11-30"),
                d("2026-12-31"),
                d("2027-01-31"),
                d("2027-02-28"),
                d("2027-03-31")
            ]
        );
        assert_eq!(
            monthly(29).dates(d("2028-02-01"), d("2028-02-29")),
            vec![d("2028-02-29")]
        );
        assert_eq!(
            monthly(1).dates(d("2026-12-31"), d("2027-01-01")),
            vec![d("2027-01-01")]
        );
    }

    #[test]
    fn bad_recurrences_are_refused() {
        let bad = [
            Recurrence {
                freq: Freq::Weekly,
                weekdays: None,
                month_day: None,
            },
            Recurrence {
                freq: Freq::Weekly,
                weekdays: Some(vec![0]),
                month_day: None,
            },
            Recurrence {
                freq: Freq::Weekly,
                weekdays: Some(vec![8]),
                month_day: None,
            },
            Recurrence {
                freq: Freq::Weekly,
                weekdays: Some(vec![1]),
                month_day: Some(1),
            },
            Recurrence {
                freq: Freq::Monthly,
                weekdays: None,
                month_day: None,
            },
            Recurrence {
                freq: Freq::Monthly,
                weekdays: None,
                month_day: Some(32),
            },
            Recurrence {
                freq: Freq::Monthly,
                weekdays: Some(vec![1]),
                month_day: Some(3),
            },
        ];
        for r in bad {
            assert!(r.clone().checked().is_err(), "{r:?}");
        }
    }

    proptest::proptest! {
        /// Every date of a range gets a route exactly when the rule says,
        /// and splitting the range anywhere changes nothing (the job may
        /// run at any time and resume).
        #[test]
        fn resuming_anywhere_makes_the_same_dates(
            days in proptest::collection::vec(1u8..=7, 1..7),
            month_day in 1u8..=31,
            start in 0i64..3000,
            len in 0i64..200,
            cut in 0i64..200,
        ) {
            let from = d("2024-01-01") + Duration::days(start);
            let to = from + Duration::days(len);
            let mid = from + Duration::days(cut.min(len));
            for r in [weekly(&days), monthly(month_day)] {
                let whole = r.dates(from, to);
                let mut split = r.dates(from, mid);
                split.extend(r.dates(mid + Duration::days(1), to));
                proptest::prop_assert_eq!(&whole, &split);
                for x in from.iter_days().take_while(|x| *x <= to) {
                    proptest::prop_assert_eq!(whole.contains(&x), r.occurs(x));
                }
            }
        }
    }
}
