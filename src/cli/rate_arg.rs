//! `--rate` with `auto`: a fixed rate (`values::rate`), or `auto` / `auto:MAX` for the
//! congestion controller (`rate::Controller`), with `--rate-min` as its floor.

use super::values;
use crate::rate::Limits;

/// What `--rate` asks for: the engine's `rate` (for auto: the ceiling, `None` without one)
/// and, for auto, the controller's limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateArg {
    pub rate: Option<f64>,
    pub auto: Option<Limits>,
}

/// The ceiling of `auto` without one: no machine sends faster than `values::rate` allows.
const NO_CEILING: f64 = 1e9;

pub fn parse(rate: &str, min: Option<&str>) -> Result<RateArg, String> {
    let t = rate.trim();
    let auto = t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("auto"));
    let min = min
        .map(|m| {
            values::rate(m)?
                .ok_or_else(|| format!("invalid --rate-min '{m}': expected a rate, not max"))
        })
        .transpose()?;
    if !auto {
        if min.is_some() {
            return Err("--rate-min needs --rate auto".into());
        }
        return Ok(RateArg {
            rate: values::rate(t)?,
            auto: None,
        });
    }
    let max = match &t[4..] {
        "" => None,
        rest => match rest.strip_prefix(':') {
            Some(m) => values::rate(m)?,
            None => {
                return Err(format!(
                    "invalid rate '{rate}': expected auto or auto:MAX (e.g. auto:200k)"
                ));
            }
        },
    };
    let limits = Limits {
        min: min.unwrap_or(1.0),
        max: max.unwrap_or(NO_CEILING),
    };
    if limits.min > limits.max {
        return Err(format!(
            "--rate-min {} is above the ceiling of --rate {rate}",
            min.unwrap_or(1.0)
        ));
    }
    Ok(RateArg {
        rate: max,
        auto: Some(limits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_auto_and_bounds() {
        assert_eq!(parse("20k", None).unwrap().rate, Some(20_000.0));
        assert_eq!(
            parse("max", None).unwrap(),
            RateArg {
                rate: None,
                auto: None
            }
        );
        let a = parse("auto", None).unwrap();
        assert_eq!(a.rate, None);
        assert_eq!(
            a.auto,
            Some(Limits {
                min: 1.0,
                max: NO_CEILING
            })
        );
        let a = parse("AUTO:200k", Some("5000")).unwrap();
        assert_eq!(a.rate, Some(200_000.0));
        assert_eq!(
            a.auto,
            Some(Limits {
                min: 5_000.0,
                max: 200_000.0
            })
        );
        assert_eq!(
            parse("auto:max", None).unwrap().auto.unwrap().max,
            NO_CEILING
        );
        for bad in ["auto:", "auto:x", "autox", "auto:0"] {
            assert!(parse(bad, None).is_err(), "{bad}");
        }
        assert!(
            parse("10k", Some("1k"))
                .unwrap_err()
                .contains("needs --rate auto")
        );
        assert!(
            parse("auto:1k", Some("2k"))
                .unwrap_err()
                .contains("above the ceiling")
        );
        assert!(parse("auto", Some("max")).is_err());
    }
}
