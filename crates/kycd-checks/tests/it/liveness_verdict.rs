//! The verdict on exact synthetic landmarks: the canonical mesh turning in perspective (a
//! real, rigid head) against the same face as a flat picture moved by homographies, through
//! the public API of `liveness` (the landmarks from kycd-testkit's `synth_liveness`).
#![allow(clippy::unwrap_used)]

use kycd_checks::face::Embedding;
use kycd_checks::liveness::geometry::{self, P2};
use kycd_checks::liveness::*;
use kycd_testkit::synth_liveness::{HEIGHT, Pose, WIDTH, follow, mesh_landmarks, picture_points, wave};

fn frames_of(points: Vec<Vec<P2>>) -> Vec<FrameFaces> {
    points
        .into_iter()
        .map(|lm| FrameFaces {
            faces: 1,
            landmarks: Some(lm),
            embedding: Some(Embedding(vec![0.1; 128])),
            size: (WIDTH, HEIGHT),
        })
        .collect()
}

fn head(challenge: &[Step], degrees: f64) -> Vec<FrameFaces> {
    frames_of(follow(challenge, 12, degrees, 3).iter().map(mesh_landmarks).collect())
}

fn picture(challenge: &[Step], degrees: f64, seed: u32) -> Vec<FrameFaces> {
    let front = mesh_landmarks(&Pose::default());
    frames_of(
        wave(challenge, 12, degrees, seed)
            .iter()
            .map(|p| picture_points(&front, p))
            .collect(),
    )
}

#[test]
fn challenges_parse_and_bad_ones_say_what_is_allowed() {
    assert_eq!(parse_challenge("left,up").unwrap(), vec![Step::Left, Step::Up]);
    assert_eq!(parse_challenge("right, down").unwrap(), vec![Step::Right, Step::Down]);
    assert!(parse_challenge("left,sideways").unwrap_err().contains("left, right, up and down"));
    assert!(parse_challenge("left,left").unwrap_err().contains("repeats"));
    assert!(parse_challenge("").is_err());
}

#[test]
fn pnp_reads_the_turn_of_an_exact_head_in_the_persons_directions() {
    for (yaw, pitch) in [(15.0, 0.0), (-15.0, 0.0), (0.0, 15.0), (0.0, -12.0)] {
        let pose = Pose {
            yaw,
            pitch,
            ..Pose::default()
        };
        let p = pose_of(&mesh_landmarks(&pose));
        assert!((p.yaw - yaw).abs() < 2.5 && (p.pitch - pitch).abs() < 2.5, "{pose:?} read as {p:?}");
    }
}

fn pose_of(lm: &[P2]) -> geometry::Pose {
    let base = pose(&mesh_landmarks(&Pose::default()), (WIDTH, HEIGHT)).unwrap();
    let p = pose(lm, (WIDTH, HEIGHT)).unwrap();
    geometry::Pose {
        yaw: p.yaw - base.yaw,
        pitch: p.pitch - base.pitch,
        scale: p.scale,
    }
}

#[test]
fn a_head_following_the_challenge_passes_with_parallax_growing_with_the_turn() {
    for challenge in [[Step::Left, Step::Up], [Step::Right, Step::Down], [Step::Up, Step::Left]] {
        let r = judge(&challenge, &head(&challenge, 20.0), &[]);
        assert_eq!(r.passed, Some(true), "{challenge:?}: {r:?}");
        assert!(r.reasons.is_empty());
        for s in r.figures["steps"].as_array().unwrap() {
            assert!(s["parallax"].as_f64().unwrap() >= MIN_PARALLAX, "{s}");
        }
    }
    // Parallax grows with the turn, both ways.
    let front = mesh_landmarks(&Pose::default());
    let at = |yaw: f64| parallax(&front, &mesh_landmarks(&Pose { yaw, ..Pose::default() })).unwrap();
    assert!(at(5.0) < at(10.0) && at(10.0) < at(20.0), "{} {} {}", at(5.0), at(10.0), at(20.0));
    assert!(at(-5.0) < at(-10.0) && at(-10.0) < at(-20.0));
    assert!(at(20.0) > MIN_PARALLAX && at(-20.0) > MIN_PARALLAX);
}

#[test]
fn a_flat_picture_waved_through_the_challenge_is_planar_motion() {
    for seed in 0..6 {
        for degrees in [15.0, 30.0, 45.0] {
            let challenge = [Step::Left, Step::Up];
            let r = judge(&challenge, &picture(&challenge, degrees, seed), &[]);
            assert_eq!(r.passed, Some(false), "{degrees}°: {r:?}");
            assert_eq!(r.reasons.first(), Some(&"planar_motion"), "{degrees}°: {r:?}");
            assert!(
                r.figures["max_parallax"].as_f64().unwrap() < 0.01,
                "exact homographies leave no parallax: {r:?}"
            );
        }
    }
    // Held still, the picture does nothing the challenge asks.
    let still = frames_of(vec![mesh_landmarks(&Pose::default()); 12]);
    let r = judge(&[Step::Left, Step::Up], &still, &[]);
    assert_eq!(r.passed, Some(false));
    assert_eq!(r.reasons, vec!["challenge_not_followed"], "{r:?}");
}

#[test]
fn wrong_order_missing_step_or_too_small_a_turn_is_not_following_the_challenge() {
    let asked = [Step::Left, Step::Up];
    for (done, degrees) in [
        (vec![Step::Up, Step::Left], 20.0),
        (vec![Step::Left], 20.0),
        (vec![Step::Right, Step::Up], 20.0),
        (vec![Step::Left, Step::Up], 6.0),
    ] {
        let r = judge(&asked, &head(&done, degrees), &[]);
        assert_eq!(r.passed, Some(false), "{done:?} {degrees}: {r:?}");
        assert!(r.reasons.contains(&"challenge_not_followed"), "{done:?}: {r:?}");
        assert!(
            !r.reasons.contains(&"planar_motion") || degrees < 10.0,
            "a real head is not planar: {r:?}"
        );
    }
}

#[test]
fn another_face_or_a_second_face_fails_and_missing_frames_are_inconclusive() {
    let asked = [Step::Left, Step::Up];
    let mut frames = head(&asked, 20.0);
    frames[6].embedding = Some(Embedding(vec![0.2; 128]));
    let r = judge(&asked, &frames, &[]);
    assert_eq!((r.passed, r.reasons.clone()), (Some(false), vec!["face_changed"]), "{r:?}");
    assert_eq!(r.figures["identity_pair"][1], "frame 6", "{r:?}");

    // The selfie is someone else: the burst is one person, not the selfie's.
    let r = judge(&asked, &head(&asked, 20.0), &[Embedding(vec![0.2; 128])]);
    assert_eq!(r.reasons, vec!["reference_mismatch"], "{r:?}");
    assert_eq!(r.figures["identity_pair"][1], "reference 0");
    assert!(
        r.figures["max_reference_distance"].as_f64().unwrap() > MAX_IDENTITY_DISTANCE,
        "{r:?}"
    );
    assert!(r.figures["max_frame_distance"].as_f64().unwrap() <= MAX_IDENTITY_DISTANCE, "{r:?}");

    let mut frames = head(&asked, 20.0);
    frames[3].faces = 2;
    assert_eq!(judge(&asked, &frames, &[]).reasons, vec!["multiple_faces"]);

    let r = judge(&asked, &head(&asked, 20.0)[..6], &[]);
    assert_eq!((r.passed, r.reasons), (None, vec!["too_few_frames"]));

    let mut frames = head(&asked, 20.0);
    for f in frames.iter_mut().skip(4) {
        *f = FrameFaces::default();
    }
    let r = judge(&asked, &frames, &[]);
    assert_eq!((r.passed, r.reasons.clone()), (None, vec!["no_face"]), "{r:?}");
    assert!(r.detail.contains("8 of 12"), "{}", r.detail);
}

#[test]
fn the_check_result_marks_inconclusive_for_the_decision() {
    let asked = [Step::Left, Step::Up];
    let r = judge(&asked, &head(&asked, 20.0)[..3], &[]);
    let c = r.to_check();
    assert_eq!(c.name, "liveness");
    assert!(!c.passed);
    assert_eq!(c.figures["outcome"], "inconclusive");
    assert_eq!(c.figures["reasons"][0], "too_few_frames");
    let c = judge(&asked, &head(&asked, 20.0), &[]).to_check();
    assert!(c.passed && c.figures["outcome"] == "pass", "{c:?}");
}

#[test]
fn the_perspective_correction_reads_the_same_turn_near_and_far() {
    for scale in [1.2, 1.0, 0.5, 0.2] {
        for yaw in [-30.0, 15.0, 30.0] {
            let p = pose_of_at(yaw, scale);
            assert!((p - yaw).abs() < 0.5, "{yaw}° at scale {scale} read as {p}°");
        }
    }
}

fn pose_of_at(yaw: f64, scale: f64) -> f64 {
    let p = pose(
        &mesh_landmarks(&Pose {
            yaw,
            scale,
            ..Pose::default()
        }),
        (WIDTH, HEIGHT),
    )
    .unwrap();
    let b = pose(&mesh_landmarks(&Pose { scale, ..Pose::default() }), (WIDTH, HEIGHT)).unwrap();
    p.yaw - b.yaw
}
