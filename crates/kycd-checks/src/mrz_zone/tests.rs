use super::*;

#[test]
fn homography_maps_its_points_and_the_inverse_undoes_it() {
    let from = [(0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)];
    let to = [(3.0, 4.0), (20.0, 6.0), (18.0, 15.0), (2.0, 12.0)];
    let hm = Homography::from_points(&from, &to).unwrap();
    let back = Homography::from_points(&to, &from).unwrap();
    for (f, t) in from.iter().zip(to) {
        let (x, y) = hm.apply(*f);
        assert!((x - t.0).abs() < 1e-3 && (y - t.1).abs() < 1e-3);
    }
    let p = back.apply(hm.apply((4.0, 2.5)));
    assert!((p.0 - 4.0).abs() < 1e-3 && (p.1 - 2.5).abs() < 1e-3, "{p:?}");
    assert!(Homography::from_points(&[(0.0, 0.0); 4], &to).is_none());
}

#[test]
fn composed_homographies_apply_in_turn() {
    let g = Homography::from_points(
        &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
        &[(1.0, 2.0), (5.0, 2.5), (4.5, 6.0), (0.5, 5.0)],
    )
    .unwrap();
    let h = along(0.3, 0.02);
    let p = (0.7, 0.4);
    let (a, b) = (g.after(&h).apply(p), g.apply(h.apply(p)));
    assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4, "{a:?} {b:?}");
}

/// Column ink of a line of `n` glyphs at `pitch` from `start` (ink in the middle 60 %
/// of each cell), sampled from `x0` at `STRIP_SCALE` columns per pitch, with the
/// glyphs whose index `erased` holds left out.
fn glyph_columns(x0: f32, len: f32, start: f32, pitch: f32, n: usize, erased: impl Fn(usize) -> bool) -> Vec<f32> {
    (0..(len * STRIP_SCALE) as usize)
        .map(|i| {
            let x = x0 + (i as f32 + 0.5) / STRIP_SCALE;
            let t = (x - start) / pitch;
            let f = t - t.floor();
            if (0.0..n as f32).contains(&t) && (0.2..0.8).contains(&f) && !erased(t as usize) {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

#[test]
fn a_lattice_is_placed_from_either_end_when_the_other_is_erased() {
    let (n, x0) = (30, -FINE_MARGIN);
    // The print is 6 % wider than the frame thinks: the frame was anchored on the
    // line's visible ends, and one end was erased. The visible end lies 0.1 pitch
    // inside the frame's.
    let pitch = 1.06;
    let len = n as f32 + 2.0 * FINE_MARGIN;
    let right_erased: fn(usize) -> bool = |k| k >= 25;
    let left_erased: fn(usize) -> bool = |k| k < 5;
    for (start, erased) in [(0.1, right_erased), (n as f32 - 0.1 - pitch * n as f32, left_erased)] {
        let top = glyph_columns(x0, len, start, pitch, n, erased);
        let bottom = glyph_columns(x0, len, start, pitch, n, |_| false);
        // Every line's end erased, and one line's only.
        for profiles in [vec![top.as_slice(), top.as_slice()], vec![top.as_slice(), bottom.as_slice()]] {
            let bounds = fit_lattice(&profiles, x0, n).unwrap();
            for (k, b) in bounds.iter().enumerate() {
                let expected = start + pitch * k as f32;
                assert!((b - expected).abs() < 0.1, "boundary {k}: {b} vs {expected}");
            }
        }
    }
}

#[test]
fn the_glyph_pitch_is_measured_where_the_frame_is_a_third_too_short() {
    let n = 30;
    let cols = glyph_columns(-2.0, 50.0, 0.0, 1.5, n, |_| false);
    let pitch = glyph_pitch(&cols).unwrap();
    assert!((pitch - 1.5 * STRIP_SCALE).abs() <= 1.0, "{pitch}");
    let cols = glyph_columns(-2.0, 50.0, 0.0, 1.0, 40, |_| false);
    let pitch = glyph_pitch(&cols).unwrap();
    assert!((pitch - STRIP_SCALE).abs() <= 1.0, "{pitch}");
}

#[test]
fn a_grid_shorter_than_the_ink_is_refused() {
    let identity = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    let fine = Fine {
        map: identity,
        inverse: identity,
        span: 2.4,
    };
    // A line of 44 glyphs, its ink from 0.15 to 43.85.
    let line = FineLine {
        y: 0.0,
        cols: glyph_columns(-FINE_MARGIN, 44.0 + 2.0 * FINE_MARGIN, 0.0, 1.0, 44, |_| false),
        x0: -FINE_MARGIN,
        ink: Some((0.15, 43.85)),
    };
    let cells = |n: usize, pitch: f32| vec![(0..=n).map(|k| k as f32 * pitch).collect::<Vec<f32>>()];
    // 36 cells at the print's pitch cover the first 36 characters only.
    assert!(fine.grid(std::slice::from_ref(&line), &cells(36, 1.0), 36).is_none());
    // 44 cells cover it all; so do 36 stretched over it (a wrong length, which the
    // classifier and the check digits refuse).
    assert!(fine.grid(std::slice::from_ref(&line), &cells(44, 1.0), 44).is_some());
    assert!(fine.grid(std::slice::from_ref(&line), &cells(36, 44.0 / 36.0), 36).is_some());
}

#[test]
fn the_centre_line_follows_a_line_at_an_angle_to_the_strip() {
    // A strip 40 pitches long and 2.2 high; the line's centre runs from y 0.3 to
    // -0.1, its ink 0.7 pitch high, glyphs at every pitch.
    let (cols, rows) = ((40.0 * STRIP_SCALE) as usize, (2.2 * STRIP_SCALE) as usize);
    let (x0, y0) = (-2.0, -1.1);
    let mut ink = vec![0f32; cols * rows];
    for j in 0..rows {
        for i in 0..cols {
            let (x, y) = (x0 + (i as f32 + 0.5) / STRIP_SCALE, y0 + (j as f32 + 0.5) / STRIP_SCALE);
            let centre = 0.3 - 0.01 * (x + 2.0);
            let f = x - x.floor();
            if (y - centre).abs() < 0.35 && (0.2..0.8).contains(&f) && (0.0..36.0).contains(&x) {
                ink[j * cols + i] = 1.0;
            }
        }
    }
    let strip = Strip { ink, cols, rows, x0, y0 };
    let (a, b) = centreline(&strip).unwrap();
    assert!((b + 0.01).abs() < 0.003, "slope {b}");
    assert!((a - 0.28).abs() < 0.05, "intercept {a}");
}

#[test]
fn a_quadratic_is_fitted_exactly() {
    let pts: Vec<(f32, f32, f32)> = (0..10)
        .map(|k| (k as f32, 1.0 + 0.5 * k as f32 + 0.01 * (k * k) as f32, 1.0))
        .collect();
    let [a, b, c] = fit_quadratic(&pts).unwrap();
    assert!((a - 1.0).abs() < 1e-6 && (b - 0.5).abs() < 1e-6 && (c - 0.01).abs() < 1e-6);
}

#[test]
fn boundaries_follow_the_gaps_of_a_fixed_pitch_line() {
    // 10 glyphs, pitch 1.0 but printed 3 % wider and shifted by 0.2: the ink is a
    // block in the middle 60 % of each cell.
    let n = 10;
    let cols: Vec<f32> = (0..(12.0 * STRIP_SCALE) as usize)
        .map(|i| {
            let x = -1.0 + (i as f32 + 0.5) / STRIP_SCALE;
            let t = (x - 0.2) / 1.03;
            let f = t - t.floor();
            if (0.0..n as f32).contains(&t) && (0.2..0.8).contains(&f) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let (bounds, err) = fit_boundaries(&cols, |i| -1.0 + (i as f32 + 0.5) / STRIP_SCALE, n).unwrap();
    for (k, b) in bounds.iter().enumerate().take(n).skip(1) {
        let expected = 0.2 + 1.03 * k as f32;
        assert!((b - expected).abs() < 0.1, "boundary {k}: {b} vs {expected}");
    }
    assert!(err < 0.1, "{err}");
}
