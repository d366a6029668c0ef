//! Rendered liveness bursts with known ground truth, for the tests, the threshold fitting
//! and the benchmark (`examples/liveness_sets.rs`): never a real person's video.
//!
//! - A **head**: MediaPipe's canonical face mesh ([`kycd_checks::liveness::mesh`]) shaped to a
//!   test portrait: each vertex takes the x and y of the same landmark found on the
//!   portrait (so the frontal view is the portrait's face) and the mesh's own depth, and
//!   the portrait is its texture. It turns about a pivot behind the face, seen by a
//!   640×480 pinhole camera (focal length 550 px, a phone's front camera) 45 cm away. The
//!   rest of the portrait (hair, ears, neck, clothes; its face blurred out) lies on a plane
//!   just behind the face that turns with it, in front of the portrait blurred past
//!   recognition (the room).
//! - A **flat picture**: the head's frontal frame printed on a plane, tilted, shifted and
//!   moved nearer, as an attacker would wave a photo or a phone to fake the turns.
//!
//! Directions follow docs/checks.md: `left` (the person's own) moves the nose toward the
//! right edge of the unmirrored frame, `up` toward the top.

use crate::synth::hash;
use image::{Rgb, RgbImage, imageops};
use kycd_checks::liveness::Step;
use kycd_checks::liveness::geometry::{P2, homography};
use kycd_checks::liveness::mesh::{TRIANGLES, VERTICES};

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
/// Focal length in pixels.
pub const FOCAL: f64 = 550.0;
/// Distance of the head (its mesh origin) from the camera, cm.
pub const DISTANCE: f64 = 45.0;
/// The point the head turns about, in mesh coordinates (cm; x right, y up, z toward the
/// camera): behind the face and a little low, where the neck is.
const PIVOT: [f64; 3] = [0.0, -2.0, -6.0];

/// Where a head (or a picture) is in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Degrees, positive to the person's left.
    pub yaw: f64,
    /// Degrees, positive chin up.
    pub pitch: f64,
    /// Degrees, in the image plane.
    pub roll: f64,
    /// Shift in pixels at the head's distance.
    pub shift: [f64; 2],
    /// Nearer (> 1) or further (< 1) than [`DISTANCE`].
    pub scale: f64,
}

impl Default for Pose {
    fn default() -> Self {
        Self {
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            shift: [0.0, 0.0],
            scale: 1.0,
        }
    }
}

/// Rotate a camera-axes vector (x right, y down, z away) by the pose's yaw, pitch, roll.
fn rotate(p: [f64; 3], pose: &Pose) -> [f64; 3] {
    let (sy, cy) = pose.yaw.to_radians().sin_cos();
    let (sp, cp) = pose.pitch.to_radians().sin_cos();
    let (sr, cr) = pose.roll.to_radians().sin_cos();
    // Yaw: a point in front of the pivot (z < 0) goes to +x for a left turn.
    let [x, y, z] = p;
    let (x, z) = (x * cy - z * sy, x * sy + z * cy);
    // Pitch: a point in front goes to −y (up) for chin up.
    let (y, z) = (y * cp + z * sp, -y * sp + z * cp);
    let (x, y) = (x * cr - y * sr, x * sr + y * cr);
    [x, y, z]
}

/// Mesh coordinates (cm, y up, z toward the camera) → camera axes relative to the pivot.
fn from_mesh(v: [f64; 3]) -> [f64; 3] {
    [v[0] - PIVOT[0], -(v[1] - PIVOT[1]), -(v[2] - PIVOT[2])]
}

/// A camera-axes point relative to the pivot, placed per `pose`, → pixel and depth.
fn project(p: [f64; 3], pose: &Pose) -> (P2, f64) {
    let [x, y, z] = rotate(p, pose);
    // The pivot sits on the optical axis at DISTANCE − PIVOT's depth.
    let dist = (DISTANCE + PIVOT[2]) / pose.scale;
    let zc = dist + z;
    let k = FOCAL / zc.max(1.0);
    (
        [
            f64::from(WIDTH) / 2.0 + pose.shift[0] + x * k,
            f64::from(HEIGHT) / 2.0 + pose.shift[1] + y * k,
        ],
        zc,
    )
}

/// The 468 landmarks of the canonical mesh itself, seen in `pose`: exact synthetic
/// landmarks of a real (rigid) head, for the unit tests.
pub fn mesh_landmarks(pose: &Pose) -> Vec<P2> {
    VERTICES.iter().map(|v| project(from_mesh(v.map(f64::from)), pose).0).collect()
}

/// Points of the frame as they appear when the frame is a flat picture tilted by the
/// pose's yaw and pitch (about its centre), rolled, shifted and moved nearer by its scale.
pub fn picture_points(points: &[P2], pose: &Pose) -> Vec<P2> {
    points.iter().map(|&p| picture_point(p, pose)).collect()
}

fn picture_point(p: P2, pose: &Pose) -> P2 {
    // The picture fills the frame at DISTANCE: a pixel is DISTANCE / FOCAL cm on it.
    let k = DISTANCE / FOCAL;
    let q = [(p[0] - f64::from(WIDTH) / 2.0) * k, (p[1] - f64::from(HEIGHT) / 2.0) * k, 0.0];
    let [x, y, z] = rotate(q, pose);
    let zc = DISTANCE / pose.scale + z;
    let f = FOCAL / zc.max(1.0);
    [
        f64::from(WIDTH) / 2.0 + pose.shift[0] + x * f,
        f64::from(HEIGHT) / 2.0 + pose.shift[1] + y * f,
    ]
}

/// Poses of a person following `challenge` over `frames` frames: still at first, then
/// each step out to `degrees` and back, with a little sway on the other axis, roll and
/// drift (deterministic from `seed`).
pub fn follow(challenge: &[Step], frames: usize, degrees: f64, seed: u32) -> Vec<Pose> {
    let steps = challenge.len().max(1);
    let per = (frames.saturating_sub(1)) as f64 / steps as f64;
    (0..frames)
        .map(|i| {
            let mut pose = Pose::default();
            if i > 0 {
                let t = (i as f64 - 0.5) / per;
                let k = (t.floor() as usize).min(steps - 1);
                let phase = (t - k as f64).clamp(0.0, 1.0);
                let a = degrees * (std::f64::consts::PI * phase).sin();
                match challenge.get(k) {
                    Some(Step::Left) => pose.yaw = a,
                    Some(Step::Right) => pose.yaw = -a,
                    Some(Step::Up) => pose.pitch = a,
                    Some(Step::Down) => pose.pitch = -a,
                    None => {}
                }
            }
            let j = |salt: u32| f64::from(hash(seed.wrapping_mul(977).wrapping_add(i as u32 * 31 + salt)) % 2001) / 1000.0 - 1.0;
            pose.yaw += 1.5 * j(1);
            pose.pitch += 1.5 * j(2);
            pose.roll = 2.0 * j(3);
            pose.shift = [6.0 * j(4), 4.0 * j(5)];
            pose.scale = 1.0 + 0.03 * j(6);
            pose
        })
        .collect()
}

/// Poses of a flat picture waved to fake `challenge`: tilted by `degrees` toward each step
/// (a photo turned to the left to fake a left turn), shifted and brought nearer as it goes.
pub fn wave(challenge: &[Step], frames: usize, degrees: f64, seed: u32) -> Vec<Pose> {
    follow(challenge, frames, degrees, seed)
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            let t = i as f64 / frames.max(1) as f64;
            p.shift = [p.shift[0] + 40.0 * (t * 5.0).sin(), p.shift[1] + 25.0 * (t * 3.0).cos() - 25.0];
            p.scale = 1.0 + 0.15 * (t * 4.0).sin();
            p
        })
        .collect()
}

/// The face oval of the landmark model (its outline, in order).
const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132,
    93, 234, 127, 162, 21, 54, 103, 67, 109,
];
/// Depth of the plane that carries the rest of the portrait (hair, ears, neck, clothes),
/// in mesh coordinates: just behind the face oval (its vertices lie at −2.4‥4.5 cm).
const HAIR_PLANE_Z: f64 = -1.0;

/// A textured head made from a portrait.
#[derive(Debug, Clone)]
pub struct Head {
    /// Vertices in camera axes relative to the pivot, cm.
    verts: Vec<[f64; 3]>,
    /// Each vertex's place on the portrait.
    uv: Vec<P2>,
    texture: RgbImage,
    /// The portrait with its face blurred out, on a plane behind the face that turns with
    /// it: hair, ears, neck and shoulders move with the head.
    hair: RgbImage,
    /// Portrait pixel → mesh x, y (cm): `mc + (p − pc)·s`, y flipped.
    to_mesh: (P2, P2, f64),
    /// The room behind: the portrait blurred past recognition.
    background: RgbImage,
}

impl Head {
    /// `landmarks`: the 468 landmarks found on `portrait` (from the landmark model).
    pub fn new(portrait: &RgbImage, landmarks: &[P2]) -> Option<Self> {
        if landmarks.len() != VERTICES.len() {
            return None;
        }
        let n = VERTICES.len() as f64;
        let mesh: Vec<[f64; 3]> = VERTICES.iter().map(|v| v.map(f64::from)).collect();
        let mc = [
            mesh.iter().map(|v| v[0]).sum::<f64>() / n,
            mesh.iter().map(|v| v[1]).sum::<f64>() / n,
        ];
        let pc = [
            landmarks.iter().map(|p| p[0]).sum::<f64>() / n,
            landmarks.iter().map(|p| p[1]).sum::<f64>() / n,
        ];
        // Scale pixels → cm so the portrait's landmarks spread like the mesh's.
        let spread = |f: &dyn Fn(usize) -> f64| (0..VERTICES.len()).map(|i| f(i).powi(2)).sum::<f64>().sqrt();
        let s = spread(&|i| (mesh[i][0] - mc[0]).hypot(mesh[i][1] - mc[1]))
            / spread(&|i| (landmarks[i][0] - pc[0]).hypot(landmarks[i][1] - pc[1])).max(1e-9);
        let verts = mesh
            .iter()
            .zip(landmarks)
            .map(|(m, p)| from_mesh([mc[0] + (p[0] - pc[0]) * s, mc[1] - (p[1] - pc[1]) * s, m[2]]))
            .collect();
        let cover = (f64::from(WIDTH) / f64::from(portrait.width())).max(f64::from(HEIGHT) / f64::from(portrait.height()));
        let (bw, bh) = (
            (f64::from(portrait.width()) * cover).ceil() as u32,
            (f64::from(portrait.height()) * cover).ceil() as u32,
        );
        let big = imageops::resize(portrait, bw.max(WIDTH), bh.max(HEIGHT), imageops::FilterType::Triangle);
        let room = imageops::crop_imm(&big, (bw.max(WIDTH) - WIDTH) / 2, (bh.max(HEIGHT) - HEIGHT) / 2, WIDTH, HEIGHT).to_image();
        // The hair plane: the portrait, its face oval (grown by 2 %) filled with the
        // blurred portrait, so that no second face shows beside the turned one.
        let oval: Vec<P2> = FACE_OVAL.iter().map(|&i| landmarks[i]).collect();
        let oc = [
            oval.iter().map(|p| p[0]).sum::<f64>() / 36.0,
            oval.iter().map(|p| p[1]).sum::<f64>() / 36.0,
        ];
        let grown: Vec<P2> = oval
            .iter()
            .map(|p| [oc[0] + (p[0] - oc[0]) * 1.02, oc[1] + (p[1] - oc[1]) * 1.02])
            .collect();
        let soft = imageops::blur(portrait, 12.0);
        let hair = RgbImage::from_fn(portrait.width(), portrait.height(), |x, y| {
            if inside(&grown, [f64::from(x) + 0.5, f64::from(y) + 0.5]) {
                *soft.get_pixel(x, y)
            } else {
                *portrait.get_pixel(x, y)
            }
        });
        Some(Self {
            verts,
            uv: landmarks.to_vec(),
            texture: portrait.clone(),
            hair,
            to_mesh: (mc, pc, s),
            background: imageops::blur(&room, 24.0),
        })
    }

    /// The head in `pose`, in front of its background.
    pub fn render(&self, pose: &Pose) -> RgbImage {
        let mut img = self.background.clone();
        // The hair plane, by the homography its four corners give.
        let (mc, pc, s) = self.to_mesh;
        let (w, h) = (f64::from(self.hair.width()), f64::from(self.hair.height()));
        let corners: [P2; 4] = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        let seen: Vec<P2> = corners
            .iter()
            .map(|c| {
                project(
                    from_mesh([mc[0] + (c[0] - pc[0]) * s, mc[1] - (c[1] - pc[1]) * s, HAIR_PLANE_Z]),
                    pose,
                )
                .0
            })
            .collect();
        if let Some(back) = homography(&seen, &corners) {
            for (x, y, px) in img.enumerate_pixels_mut() {
                let p = kycd_checks::liveness::geometry::apply(&back, [f64::from(x) + 0.5, f64::from(y) + 0.5]);
                if p[0] >= 0.0 && p[1] >= 0.0 && p[0] < w && p[1] < h {
                    *px = Rgb(bilinear(&self.hair, p[0], p[1]).map(|c| c.clamp(0.0, 255.0) as u8));
                }
            }
        }
        let proj: Vec<(P2, f64)> = self.verts.iter().map(|&v| project(v, pose)).collect();
        let rotated: Vec<[f64; 3]> = self.verts.iter().map(|&v| rotate(v, pose)).collect();
        let mut depth = vec![f64::INFINITY; (WIDTH * HEIGHT) as usize];
        // Light from above the camera, slightly to the side.
        let light: [f64; 3] = {
            let l = [0.3f64, -0.4, -1.0];
            let n = (l[0] * l[0] + l[1] * l[1] + l[2] * l[2]).sqrt();
            l.map(|c| c / n)
        };
        for t in TRIANGLES {
            let [a, b, c] = t.map(usize::from);
            let (pa, pb, pc) = (proj[a].0, proj[b].0, proj[c].0);
            let area = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (pb[1] - pa[1]);
            if area.abs() < 1e-9 {
                continue;
            }
            let (ra, rb, rc) = (rotated[a], rotated[b], rotated[c]);
            let (e1, e2) = (sub(rb, ra), sub(rc, ra));
            let nrm = [
                e1[1] * e2[2] - e1[2] * e2[1],
                e1[2] * e2[0] - e1[0] * e2[2],
                e1[0] * e2[1] - e1[1] * e2[0],
            ];
            let len = (nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]).sqrt().max(1e-12);
            let shade = 0.72 + 0.28 * ((nrm[0] * light[0] + nrm[1] * light[1] + nrm[2] * light[2]) / len).abs();
            let x0 = pa[0].min(pb[0]).min(pc[0]).floor().max(0.0) as u32;
            let x1 = (pa[0].max(pb[0]).max(pc[0]).ceil().max(0.0) as u32).min(WIDTH - 1);
            let y0 = pa[1].min(pb[1]).min(pc[1]).floor().max(0.0) as u32;
            let y1 = (pa[1].max(pb[1]).max(pc[1]).ceil().max(0.0) as u32).min(HEIGHT - 1);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                    let wa = ((pb[0] - px) * (pc[1] - py) - (pc[0] - px) * (pb[1] - py)) / area;
                    let wb = ((pc[0] - px) * (pa[1] - py) - (pa[0] - px) * (pc[1] - py)) / area;
                    let wc = 1.0 - wa - wb;
                    if wa < -1e-9 || wb < -1e-9 || wc < -1e-9 {
                        continue;
                    }
                    let z = wa * proj[a].1 + wb * proj[b].1 + wc * proj[c].1;
                    let k = (y * WIDTH + x) as usize;
                    if z >= depth[k] {
                        continue;
                    }
                    depth[k] = z;
                    let u = wa * self.uv[a][0] + wb * self.uv[b][0] + wc * self.uv[c][0];
                    let v = wa * self.uv[a][1] + wb * self.uv[b][1] + wc * self.uv[c][1];
                    let rgb = bilinear(&self.texture, u, v);
                    img.put_pixel(x, y, Rgb(rgb.map(|c| (c * shade).clamp(0.0, 255.0) as u8)));
                }
            }
        }
        img
    }
}

/// Whether `p` is inside the polygon `poly` (even-odd rule).
fn inside(poly: &[P2], p: P2) -> bool {
    let mut odd = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
            odd = !odd;
        }
        j = i;
    }
    odd
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn bilinear(img: &RgbImage, u: f64, v: f64) -> [f64; 3] {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let (x, y) = (u - 0.5, v - 0.5);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let px = |xx: i64, yy: i64| img.get_pixel(xx.clamp(0, w - 1) as u32, yy.clamp(0, h - 1) as u32).0.map(f64::from);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (a, b, c, d) = (px(x0, y0), px(x0 + 1, y0), px(x0, y0 + 1), px(x0 + 1, y0 + 1));
    [0, 1, 2].map(|k| (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy)
}

/// `picture` (a frame) printed and held in `pose` before a plain wall.
pub fn render_picture(picture: &RgbImage, pose: &Pose) -> RgbImage {
    let corners: [P2; 4] = [
        [0.0, 0.0],
        [f64::from(WIDTH), 0.0],
        [f64::from(WIDTH), f64::from(HEIGHT)],
        [0.0, f64::from(HEIGHT)],
    ];
    let seen: Vec<P2> = corners.iter().map(|&c| picture_point(c, pose)).collect();
    // Frame pixel → picture pixel.
    let Some(h) = homography(&seen, &corners) else {
        return picture.clone();
    };
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let p = kycd_checks::liveness::geometry::apply(&h, [f64::from(x) + 0.5, f64::from(y) + 0.5]);
        if p[0] < 0.0 || p[1] < 0.0 || p[0] >= f64::from(WIDTH) || p[1] >= f64::from(HEIGHT) {
            // The wall behind: a soft grey gradient.
            let g = 150 + (y * 40 / HEIGHT) as u8;
            Rgb([g, g - 6, g - 14])
        } else {
            Rgb(bilinear(picture, p[0], p[1]).map(|c| c.clamp(0.0, 255.0) as u8))
        }
    })
}

/// A frame as the browser sends it: JPEG at quality 85, decoded again.
pub fn as_jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    // Encoding an in-memory RGB buffer cannot fail.
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(img);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_left_turn_moves_the_nose_to_the_right_of_the_frame_and_up_moves_it_up() {
        let front = mesh_landmarks(&Pose::default());
        let left = mesh_landmarks(&Pose {
            yaw: 20.0,
            ..Pose::default()
        });
        let up = mesh_landmarks(&Pose {
            pitch: 20.0,
            ..Pose::default()
        });
        // Landmark 1 is the nose tip; 33 the person's right eye corner, on the image's left.
        assert!(front[33][0] < front[263][0], "the person's right eye is on the image's left");
        assert!(left[1][0] > front[1][0] + 20.0, "{:?} {:?}", left[1], front[1]);
        assert!(up[1][1] < front[1][1] - 20.0, "{:?} {:?}", up[1], front[1]);
    }

    #[test]
    fn a_picture_pose_without_tilt_keeps_the_points() {
        let pts = vec![[10.0, 20.0], [300.0, 200.0], [600.0, 470.0]];
        let same = picture_points(&pts, &Pose::default());
        for (a, b) in pts.iter().zip(&same) {
            assert!((a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9, "{a:?} {b:?}");
        }
    }

    #[test]
    fn follow_reaches_each_step_in_order() {
        let poses = follow(&[Step::Left, Step::Up], 12, 20.0, 1);
        let peak_left = (0..12).max_by(|&a, &b| poses[a].yaw.total_cmp(&poses[b].yaw)).unwrap_or(0);
        let peak_up = (0..12).max_by(|&a, &b| poses[a].pitch.total_cmp(&poses[b].pitch)).unwrap_or(0);
        assert!(poses[peak_left].yaw > 17.0 && poses[peak_up].pitch > 17.0, "{poses:?}");
        assert!(peak_left < peak_up, "{peak_left} {peak_up}");
        assert!(poses[0].yaw.abs() < 2.0 && poses[0].pitch.abs() < 2.0);
    }
}
