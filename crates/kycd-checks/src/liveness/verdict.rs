//! The verdict on a burst's measured frames: the steps followed, the parallax at each
//! step, the identity across frames and against the references.

use super::*;

/// The verdict on measured frames (capture order). Pure: the unit tests feed it exact
/// synthetic landmarks.
pub fn judge(challenge: &[Step], frames: &[FrameFaces], references: &[Embedding]) -> LivenessResult {
    let n = frames.len();
    let steps: Vec<&str> = challenge.iter().map(|s| s.as_str()).collect();
    let thresholds = json!({
        "turn_degrees": TURN_DEGREES, "min_parallax": MIN_PARALLAX, "min_distortion": MIN_DISTORTION,
        "max_identity_distance": MAX_IDENTITY_DISTANCE, "min_frames": MIN_FRAMES,
    });
    let faces: Vec<usize> = frames.iter().map(|f| f.faces).collect();
    if n < MIN_FRAMES || challenge.is_empty() {
        return LivenessResult {
            passed: None,
            reasons: vec!["too_few_frames"],
            detail: format!(
                "{n} frame(s) for a challenge of {} step(s): send a burst of at least {MIN_FRAMES} frames while the person follows the prompts",
                challenge.len()
            ),
            figures: json!({"frames": n, "challenge": steps, "faces": faces, "thresholds": thresholds}),
        };
    }
    let usable: Vec<usize> = (0..n)
        .filter(|&i| frames[i].landmarks.as_ref().is_some_and(|l| l.len() == landmarks::POINTS))
        .collect();
    let faceless = n - usable.len();
    if faceless as f64 > MAX_FACELESS_SHARE * n as f64 || usable.len() < 2 {
        return LivenessResult {
            passed: None,
            reasons: vec!["no_face"],
            detail: format!(
                "no face was found on {faceless} of {n} frames: the face must stay in view, well lit, during the whole challenge; capture again"
            ),
            figures: json!({"frames": n, "challenge": steps, "faces": faces, "thresholds": thresholds}),
        };
    }
    let lm = |i: usize| frames[i].landmarks.as_deref().unwrap_or_default();
    let first = lm(usable[0]);
    // Per frame (null without a face): pose relative to the first face, parallax, distortion.
    let mut yaw = vec![None; n];
    let mut pitch = vec![None; n];
    let mut resid = vec![None; n];
    let mut dist = vec![None; n];
    let base = pose(first, frames[usable[0]].size);
    for &i in &usable {
        if let (Some(p), Some(b)) = (pose(lm(i), frames[i].size), base) {
            yaw[i] = Some(p.yaw - b.yaw);
            pitch[i] = Some(p.pitch - b.pitch);
        }
        resid[i] = parallax(first, lm(i));
        dist[i] = distortion(first, lm(i));
    }
    let progress = |s: Step, i: usize| match (yaw[i], pitch[i]) {
        (Some(y), Some(p)) => Some(s.progress(y, p)),
        _ => None,
    };
    let reached = |s: Step, i: usize| progress(s, i).is_some_and(|d| d >= TURN_DEGREES);

    // Challenge: each step reached in order, no later step reached before it.
    let mut followed = true;
    let mut step_figures = Vec::new();
    let mut parallax_low = false;
    let mut from = 0;
    for (k, &s) in challenge.iter().enumerate() {
        let at = (from..n).find(|&i| reached(s, i));
        let early = at.and_then(|at| {
            challenge[k + 1..]
                .iter()
                .find(|&&later| later != s && (from..at).any(|i| reached(later, i)))
        });
        // The step's furthest frame: from where it is reached until the next step is.
        let furthest = at.and_then(|at| {
            let end = challenge
                .get(k + 1)
                .and_then(|&next| (at..n).find(|&i| reached(next, i)))
                .unwrap_or(n);
            (at..end.max(at + 1))
                .filter(|&i| progress(s, i).is_some())
                .max_by(|&a, &b| progress(s, a).unwrap_or(f64::MIN).total_cmp(&progress(s, b).unwrap_or(f64::MIN)))
        });
        let peak_parallax = furthest.and_then(|i| resid[i]);
        if at.is_none() || early.is_some() {
            followed = false;
        }
        if peak_parallax.is_some_and(|r| r < MIN_PARALLAX) {
            parallax_low = true;
        }
        step_figures.push(json!({
            "step": s.as_str(),
            "reached_at_frame": at,
            "furthest_frame": furthest,
            "degrees": furthest.and_then(|i| progress(s, i)).map(|d| round(d, 1)),
            "parallax": peak_parallax.map(|r| round(r, 3)),
            "next_step_too_early": early.map(|s| s.as_str()),
        }));
        if let Some(at) = at {
            from = at + 1;
        } else {
            break;
        }
    }
    let max_resid = resid.iter().flatten().fold(0.0f64, |m, &v| m.max(v));
    let max_dist = dist.iter().flatten().fold(0.0f64, |m, &v| m.max(v));
    let planar = parallax_low || (max_dist >= MIN_DISTORTION && max_resid < MIN_PARALLAX);

    // Identity: each frame against every other frame seen from about the same angle and
    // against the next frame, and the frames facing the camera as at the start against
    // the references (a selfie and a portrait face the camera); the largest distance
    // counts. Views further apart are not compared: dlib's embedding moves with the pose.
    let embedded: Vec<usize> = (0..n)
        .filter(|&i| frames[i].embedding.as_ref().is_some_and(|e| !e.0.is_empty()))
        .collect();
    let near = |a: usize, b: usize| match (yaw[a], yaw[b], pitch[a], pitch[b]) {
        (Some(ya), Some(yb), Some(pa), Some(pb)) => (ya - yb).abs() <= IDENTITY_POSE_GAP && (pa - pb).abs() <= IDENTITY_POSE_GAP,
        _ => false,
    };
    let frontal = |i: usize| {
        yaw[i]
            .zip(pitch[i])
            .is_some_and(|(y, p)| y.abs() <= IDENTITY_POSE_GAP && p.abs() <= IDENTITY_POSE_GAP)
    };
    let emb = |i: usize| frames[i].embedding.as_ref();
    // The burst's frames among themselves (a swap during the burst), and the burst against
    // the references (someone else than the selfie or the document portrait), apart: the
    // decision treats them differently.
    type Pair = Option<(f64, String, String)>;
    let (mut within, mut against): (Pair, Pair) = (None, None);
    let mut compared = 0usize;
    let mut consider = |worst: &mut Pair, d: f64, a: String, b: String| {
        compared += 1;
        if worst.as_ref().is_none_or(|w| d > w.0) {
            *worst = Some((d, a, b));
        }
    };
    for (k, &a) in embedded.iter().enumerate() {
        for &b in &embedded[k + 1..] {
            if (near(a, b) || b == embedded[k + 1])
                && let (Some(ea), Some(eb)) = (emb(a), emb(b))
            {
                consider(&mut within, ea.distance(eb), format!("frame {a}"), format!("frame {b}"));
            }
        }
        if frontal(a) {
            for (r, er) in references.iter().enumerate() {
                if let Some(ea) = emb(a) {
                    consider(&mut against, ea.distance(er), format!("frame {a}"), format!("reference {r}"));
                }
            }
        }
    }
    let beyond = |w: &Pair| w.as_ref().is_some_and(|w| w.0 > MAX_IDENTITY_DISTANCE);
    let (changed, mismatch) = (beyond(&within), beyond(&against));
    let worst = [&within, &against]
        .into_iter()
        .flatten()
        .max_by(|x, y| x.0.total_cmp(&y.0))
        .cloned();
    let multiple = faces.iter().any(|&f| f > 1);

    let mut reasons = Vec::new();
    let mut words = Vec::new();
    if planar {
        reasons.push("planar_motion");
        words.push(format!(
            "the face moved like a flat picture (largest nose parallax {:.3} of the eye distance, a real head turning shows {MIN_PARALLAX} or more): a photo or a screen held to the camera",
            max_resid
        ));
    }
    if !followed {
        reasons.push("challenge_not_followed");
        words.push(format!(
            "the head did not turn {} by {TURN_DEGREES}° each, in that order",
            steps.join(" then ")
        ));
    }
    if let (true, Some((d, a, b))) = (changed, &within) {
        reasons.push("face_changed");
        words.push(format!(
            "the face changed during the burst ({a} against {b}: distance {d:.2}, one person stays under {MAX_IDENTITY_DISTANCE})"
        ));
    }
    if let (true, Some((d, a, b))) = (mismatch, &against) {
        reasons.push("reference_mismatch");
        words.push(format!(
            "the face in the burst is not the one of the selfie or the document portrait ({a} against {b}: distance {d:.2}, one person stays under {MAX_IDENTITY_DISTANCE}): a person compares them"
        ));
    }
    if multiple {
        reasons.push("multiple_faces");
        words.push("more than one face was in view: the person must be alone in front of the camera".to_owned());
    }
    let passed = reasons.is_empty();
    let detail = if passed {
        format!(
            "the head turned {} as asked, with the depth of a real face (nose parallax up to {max_resid:.3} of the eye distance), one person throughout",
            steps.join(" then ")
        )
    } else {
        let mut d = words.join("; ");
        d.push_str(": the liveness challenge failed");
        d
    };
    let r3 = |v: &[Option<f64>], k: i32| v.iter().map(|x| x.map(|x| round(x, k))).collect::<Vec<_>>();
    LivenessResult {
        passed: Some(passed),
        reasons,
        detail,
        figures: json!({
            "frames": n,
            "challenge": steps,
            "faces": faces,
            "yaw": r3(&yaw, 1),
            "pitch": r3(&pitch, 1),
            "parallax": r3(&resid, 3),
            "distortion": r3(&dist, 3),
            "steps": step_figures,
            "max_parallax": round(max_resid, 3),
            "max_distortion": round(max_dist, 3),
            "max_identity_distance": worst.as_ref().map(|w| round(w.0, 3)),
            "identity_pair": worst.as_ref().map(|(_, a, b)| [a.clone(), b.clone()]),
            "max_frame_distance": within.as_ref().map(|w| round(w.0, 3)),
            "max_reference_distance": against.as_ref().map(|w| round(w.0, 3)),
            "identity_comparisons": compared,
            "thresholds": thresholds,
        }),
    }
}
