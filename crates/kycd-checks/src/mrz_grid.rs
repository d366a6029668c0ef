//! From the cell classifier's probabilities to a zone: every cell restricted to what its
//! field may hold, the check digits choosing among the top candidates of uncertain
//! cells, and a confidence bar for every cell no check digit covers.
//!
//! - **Field layout**: each cell keeps only the characters its field allows (digits in
//!   dates and check digits, letters and `<` in codes and names, `M F X <` for sex).
//! - **Check digits**: the readings of the checked cells are enumerated best first (the
//!   product of each cell's probabilities) until one makes every check digit pass. It is
//!   taken only when it is plausible (at least [`DEPTH`] × as probable as the cells'
//!   first choices) and clear (no second passing reading at [`AMBIGUITY`] × its
//!   probability or more: a check digit cannot tell `8` from `S`, whose values differ by
//!   20).
//! - **Unchecked cells** (names, codes, sex, a visa's optional data) must reach
//!   [`UNCHECKED_BAR`]. One that does not makes the zone *uncertain*: reported with the
//!   cells named, never valid.

use crate::mrz::{self, CellRef, MrzFormat, MrzResult, Repair};
use crate::mrz_cells::{ALPHABET, CLASSES, char_of};
use chrono::NaiveDate;
use std::collections::{BinaryHeap, HashSet};

/// The probability a cell that no check digit covers must reach to be trusted.
pub const UNCHECKED_BAR: f32 = 0.97;
/// A second reading that passes the check digits at this fraction of the best one's
/// probability (or more) makes the cells where they differ uncertain.
pub const AMBIGUITY: f32 = 0.02;
/// The best passing reading must be at least this fraction as probable as the cells'
/// first choices; below, a pass is as likely to be chance (a check digit passes one
/// wrong reading in ten).
pub const DEPTH: f32 = 1e-3;
/// Candidates below this share of a cell's (allowed) probability are not tried.
const MIN_CANDIDATE: f32 = 0.002;
/// At most this many cells are varied, the least sure first, and at most this many
/// readings tried.
const MAX_VARIABLE: usize = 14;
const BUDGET: usize = 5000;

/// A checked cell worth varying: line, position, candidates (best first).
type Variable = (usize, usize, Vec<(usize, f32)>);
/// A reading of the variable cells: its log-probability and each cell's candidate index.
type Reading = (f32, Vec<u8>);

/// Whether the check digits may choose a cell's character. Names never: where a check
/// digit covers them at all (the French identity card's last digit covers both lines),
/// it is one digit over dozens of cells, which a wrong reading passes one time in ten.
fn left_to_check_digits(rule: mrz::CellRule) -> bool {
    rule.checked && !matches!(rule.field, "name" | "surname" | "given_names")
}

/// One cell's allowed candidates, most probable first: (class, probability among the
/// allowed characters).
fn candidates(p: &[f32; CLASSES], allows: impl Fn(char) -> bool) -> Vec<(usize, f32)> {
    let mut c: Vec<(usize, f32)> = (0..CLASSES).filter(|&k| allows(char_of(k))).map(|k| (k, p[k])).collect();
    let sum: f32 = c.iter().map(|x| x.1).sum();
    if sum <= 0.0 {
        return vec![(CLASSES - 1, 0.0)];
    }
    for x in &mut c {
        x.1 /= sum;
    }
    c.sort_by(|a, b| b.1.total_cmp(&a.1));
    c
}

#[derive(PartialEq)]
struct Node(f32, Vec<u8>);
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// Read a zone of `format` from each cell's class probabilities (line by line, in
/// [`ALPHABET`] order). `None` when the grid does not have the format's shape.
pub fn decode(format: MrzFormat, probs: &[Vec<[f32; CLASSES]>], today: NaiveDate) -> Option<MrzResult> {
    let rules = mrz::cell_rules(format);
    if probs.len() != rules.len() || probs.iter().zip(&rules).any(|(p, r)| p.len() != r.len()) {
        return None;
    }
    let cands: Vec<Vec<Vec<(usize, f32)>>> = probs
        .iter()
        .zip(&rules)
        .map(|(line, rl)| line.iter().zip(rl).map(|(p, r)| candidates(p, |c| r.kind.allows(c))).collect())
        .collect();
    let mut choice: Vec<Vec<usize>> = cands.iter().map(|l| l.iter().map(|c| c[0].0).collect()).collect();
    // The checked cells worth varying, least sure first.
    let mut vars: Vec<Variable> = Vec::new();
    for (li, line) in cands.iter().enumerate() {
        for (pos, c) in line.iter().enumerate() {
            let kept: Vec<(usize, f32)> = c.iter().copied().take(4).filter(|x| x.1 >= MIN_CANDIDATE).collect();
            if left_to_check_digits(rules[li][pos]) && kept.len() > 1 {
                vars.push((li, pos, kept));
            }
        }
    }
    vars.sort_by(|a, b| a.2[0].1.total_cmp(&b.2[0].1));
    vars.truncate(MAX_VARIABLE);
    let to_text = |choice: &[Vec<usize>]| -> Vec<String> { choice.iter().map(|l| l.iter().map(|&k| char_of(k)).collect()).collect() };
    let passes = |choice: &[Vec<usize>]| {
        let text = to_text(choice);
        let refs: Vec<&str> = text.iter().map(String::as_str).collect();
        mrz::parse_lines(&refs, today).is_ok_and(|r| r.check_digits.iter().all(|c| c.passed))
    };
    let apply = |idx: &[u8], choice: &mut Vec<Vec<usize>>| {
        for (v, &i) in vars.iter().zip(idx) {
            choice[v.0][v.1] = v.2[usize::from(i)].0;
        }
    };
    let score = |idx: &[u8]| -> f32 { vars.iter().zip(idx).map(|(v, &i)| v.2[usize::from(i)].1.max(1e-12).ln()).sum() };
    // Best-first over the product of the variable cells' candidates.
    let start = vec![0u8; vars.len()];
    let top = score(&start);
    let mut heap = BinaryHeap::from([Node(top, start.clone())]);
    let mut seen: HashSet<Vec<u8>> = HashSet::from([start]);
    let (mut best, mut second): (Option<Reading>, Option<Reading>) = (None, None);
    let mut tried = 0;
    while let Some(Node(s, idx)) = heap.pop() {
        if let Some((b, _)) = &best
            && s < b + AMBIGUITY.ln()
        {
            break;
        }
        if best.is_none() && s < top + DEPTH.ln() {
            break;
        }
        tried += 1;
        if tried > BUDGET {
            break;
        }
        let mut c = choice.clone();
        apply(&idx, &mut c);
        if passes(&c) {
            if best.is_none() {
                best = Some((s, idx.clone()));
            } else {
                second = Some((s, idx));
                break;
            }
        }
        for j in 0..vars.len() {
            let i = usize::from(idx[j]);
            if i + 1 < vars[j].2.len() {
                let mut next = idx.clone();
                next[j] += 1;
                if seen.insert(next.clone()) {
                    heap.push(Node(score(&next), next));
                }
            }
        }
    }
    let mut uncertain: Vec<CellRef> = Vec::new();
    if let Some((_, idx)) = &best {
        apply(idx, &mut choice);
        if let Some((_, other)) = &second {
            for (v, (a, b)) in vars.iter().zip(idx.iter().zip(other)) {
                if a != b {
                    uncertain.push(CellRef {
                        line: v.0,
                        position: v.1,
                        field: rules[v.0][v.1].field,
                    });
                }
            }
        }
    }
    let text = to_text(&choice);
    let refs: Vec<&str> = text.iter().map(String::as_str).collect();
    let mut r = mrz::parse_lines(&refs, today).ok()?;
    let mut repaired = Vec::new();
    let mut confidence = Vec::with_capacity(probs.len());
    for (li, line) in probs.iter().enumerate() {
        let mut conf = Vec::with_capacity(line.len());
        for (pos, p) in line.iter().enumerate() {
            let k = choice[li][pos];
            conf.push(p[k]);
            let raw = (0..CLASSES).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(k);
            let rule = rules[li][pos];
            if raw != k {
                repaired.push(Repair {
                    line: li,
                    position: pos,
                    from: char_of(raw),
                    to: char_of(k),
                    field: rule.field,
                });
            }
            if !left_to_check_digits(rule) && p[k] < UNCHECKED_BAR {
                uncertain.push(CellRef {
                    line: li,
                    position: pos,
                    field: rule.field,
                });
            }
        }
        confidence.push(conf);
    }
    uncertain.sort_by_key(|c| (c.line, c.position));
    uncertain.dedup();
    r.valid = r.valid && best.is_some() && uncertain.is_empty();
    r.repaired = repaired;
    r.confidence = confidence;
    r.uncertain = uncertain;
    Some(r)
}

/// One-hot probabilities for a zone given as text (tests, fuzzing): every cell sure.
pub fn one_hot(lines: &[String]) -> Vec<Vec<[f32; CLASSES]>> {
    lines
        .iter()
        .map(|l| {
            l.chars()
                .map(|c| {
                    let mut p = [0f32; CLASSES];
                    if let Some(k) = ALPHABET.iter().position(|&a| char::from(a) == c) {
                        p[k] = 1.0;
                    }
                    p
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mrz_cells::class_of;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
    }

    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];

    fn lines() -> Vec<String> {
        TD3.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(p: &mut [f32; CLASSES], pairs: &[(char, f32)]) {
        *p = [0.0; CLASSES];
        for &(c, v) in pairs {
            p[class_of(c).unwrap()] = v;
        }
    }

    /// Decodes the TD3 specimen read surely but for the cell at (`line`, `position`),
    /// which the classifier gives as `pairs`.
    fn decode_with(line: usize, position: usize, pairs: &[(char, f32)]) -> MrzResult {
        let mut p = one_hot(&lines());
        set(&mut p[line][position], pairs);
        decode(MrzFormat::Td3, &p, today()).unwrap()
    }

    #[test]
    fn a_sure_zone_is_read_as_is() {
        let r = decode(MrzFormat::Td3, &one_hot(&lines()), today()).unwrap();
        assert!(r.valid, "{r:?}");
        assert_eq!(r.lines, TD3);
        assert!(r.repaired.is_empty() && r.uncertain.is_empty());
        assert_eq!(r.confidence[1].len(), 44);
    }

    #[test]
    fn the_check_digit_picks_the_second_candidate_and_says_so() {
        // Birth date 740812: the classifier prefers 3 for the 1 (position 17).
        let r = decode_with(1, 17, &[('3', 0.6), ('1', 0.4)]);
        assert!(r.valid, "{r:?}");
        assert_eq!(r.lines, TD3);
        assert_eq!(r.repaired.len(), 1);
        assert_eq!((r.repaired[0].line, r.repaired[0].position, r.repaired[0].to), (1, 17, '1'));
    }

    #[test]
    fn a_letter_read_in_a_date_becomes_the_digit() {
        let r = decode_with(1, 13, &[('Z', 0.7), ('7', 0.3)]);
        assert!(r.valid && r.lines == TD3, "{r:?}");
    }

    #[test]
    fn an_unsure_name_letter_makes_the_zone_uncertain_never_valid() {
        // The N of ANNA (line 0, position 16) read as N at 0.8, H at 0.2.
        let r = decode_with(0, 16, &[('N', 0.8), ('H', 0.2)]);
        assert!(!r.valid);
        assert_eq!(
            r.uncertain,
            vec![CellRef {
                line: 0,
                position: 16,
                field: "name"
            }]
        );
        assert_eq!(r.lines, TD3, "the best reading is still reported");
    }

    #[test]
    fn two_readings_the_check_digits_cannot_tell_apart_are_uncertain() {
        // 8 and S differ by 20 in check-digit value: in the document number (position 3,
        // an 8) both pass.
        let r = decode_with(1, 3, &[('8', 0.6), ('S', 0.4)]);
        assert!(!r.valid);
        assert_eq!(r.uncertain.len(), 1);
        assert_eq!((r.uncertain[0].line, r.uncertain[0].position), (1, 3));
    }

    #[test]
    fn a_wrong_digit_no_candidate_repairs_is_invalid() {
        let r = decode_with(1, 17, &[('3', 1.0)]);
        assert!(!r.valid);
        assert!(r.check_digits.iter().any(|c| !c.passed));
    }

    proptest::proptest! {
        // Few cases: a hopeless zone costs the whole search budget.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever the classifier says, decoding never panics, and a zone it calls
        /// valid has every check digit passing and no unsure cell.
        #[test]
        fn any_probabilities_decode_safely(
            format in proptest::sample::select(vec![MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3, MrzFormat::MrvA, MrzFormat::MrvB]),
            seed in proptest::prelude::any::<u64>(),
            sharp in 0.5f32..20.0,
        ) {
            // splitmix64, the same draws as kycd-testkit's `Rng` (which a unit test here
            // cannot use: see kycd-checks' Cargo.toml).
            let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
            let mut unit = || {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
            };
            let probs: Vec<Vec<[f32; CLASSES]>> = (0..format.line_count())
                .map(|_| {
                    (0..format.line_len())
                        .map(|_| {
                            let mut p = [0f32; CLASSES];
                            for v in &mut p {
                                *v = (unit() * sharp).exp();
                            }
                            let sum: f32 = p.iter().sum();
                            p.map(|v| v / sum)
                        })
                        .collect()
                })
                .collect();
            if let Some(r) = decode(format, &probs, today()) {
                proptest::prop_assert!(!r.valid || (r.check_digits.iter().all(|c| c.passed) && r.uncertain.is_empty()));
            }
        }
    }

    #[test]
    fn a_grid_of_the_wrong_shape_is_refused() {
        assert!(decode(MrzFormat::Td1, &one_hot(&lines()), today()).is_none());
    }
}
