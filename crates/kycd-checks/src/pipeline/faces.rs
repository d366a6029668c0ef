//! The pipeline's face checks: the liveness burst against its challenge, and the faces
//! found on the document and the selfie, matched.

use super::*;

impl Pipeline {
    /// The `liveness` check of a burst against the challenge stored in it, with the selfie
    /// and the document portrait as references when their faces were embedded. Without
    /// the face models (face matching off) the identity part is skipped and said so.
    pub(super) fn liveness_check(&self, c: &CaptureInput<'_>, policy: &Policy, references: &[(&str, &Embedding)]) -> CheckResult {
        let result = match (Burst::parse(c.bytes), &self.liveness) {
            (Err(e), _) => LivenessResult::inconclusive("unreadable_frame", format!("{e}: capture the burst again")),
            (Ok(_), Err(why)) => LivenessResult::inconclusive("models_missing", format!("the liveness check could not run: {why}")),
            (Ok(burst), Ok(kit)) => self.judge_burst(&burst, kit, references),
        };
        let mut check = result.to_check();
        if let Some(m) = check.figures.as_object_mut() {
            // What `reference N` of the identity pair is.
            let names: Vec<&str> = references.iter().map(|(n, _)| *n).collect();
            m.insert("references".into(), json!(names));
            m.insert("file_id".into(), json!(c.file_id));
            m.insert("required".into(), json!(policy.liveness_required));
        }
        check
    }

    pub(super) fn judge_burst(&self, burst: &Burst, kit: &LivenessKit, references: &[(&str, &Embedding)]) -> LivenessResult {
        let mut frames = Vec::with_capacity(burst.frames.len());
        for (i, bytes) in burst.frames.iter().enumerate() {
            match decode::decode_full(bytes, self.limits) {
                Ok(img) => frames.push(img.into_rgb8()),
                Err(e) => {
                    return LivenessResult::inconclusive(
                        "unreadable_frame",
                        format!("frame {i} could not be decoded ({e}): capture the burst again"),
                    );
                }
            }
        }
        let encoder = self.faces.as_ref().ok().map(|f| &f.encoder);
        let references: Vec<Embedding> = references.iter().map(|(_, e)| (*e).clone()).collect();
        match crate::liveness::check_frames(&kit.detector, &kit.landmarks, encoder, &burst.steps, &frames, &references) {
            Ok(mut r) => {
                if let (Some(m), Err(why)) = (r.figures.as_object_mut(), &self.faces) {
                    m.insert("identity_skipped_because".into(), json!(why));
                }
                r
            }
            Err(e) => LivenessResult::inconclusive("models_missing", format!("the liveness check could not run: {e}")),
        }
    }

    /// The face checks of an attempt with a selfie: a face on the document, exactly one on
    /// the selfie, and the similarity of the two cut by the policy's thresholds.
    pub(super) fn face_checks(
        &self,
        policy: &Policy,
        has_document: bool,
        doc: Option<&(String, FaceFindings)>,
        selfie: Option<&(String, FaceFindings)>,
    ) -> Vec<CheckResult> {
        let mut out = Vec::new();
        if let Err(why) = &self.faces {
            out.push(inconclusive(
                FACE_MATCH,
                format!("faces were not compared ({why}): a reviewer compares the selfie with the document portrait"),
                json!({}),
            ));
            return out;
        }
        if let Some((file, f)) = selfie {
            let mut figures = f.figures();
            figures["file_id"] = json!(file);
            out.push(CheckResult {
                name: "face_found.selfie".into(),
                passed: !f.faces.is_empty(),
                detail: if f.faces.is_empty() {
                    "no face was found on the selfie".into()
                } else {
                    "a face was found on the selfie".into()
                },
                figures: figures.clone(),
            });
            if f.faces.len() > 1 {
                figures["label"] = json!(MULTIPLE_FACES);
                figures["outcome"] = json!("review");
                out.push(CheckResult {
                    name: SINGLE_FACE.into(),
                    passed: false,
                    detail: format!("{} faces are on the selfie: a person should look", f.faces.len()),
                    figures,
                });
            }
        }
        if has_document && let Some((file, f)) = doc {
            let mut figures = f.figures();
            figures["file_id"] = json!(file);
            if f.faces.is_empty() {
                out.push(inconclusive(
                    "face_found.document_front",
                    "no portrait was found on the document",
                    figures,
                ));
            } else {
                out.push(CheckResult {
                    name: "face_found.document_front".into(),
                    passed: true,
                    detail: "the document's portrait was found".into(),
                    figures,
                });
            }
        }
        fn embedding(x: Option<&(String, FaceFindings)>) -> Option<(&String, &Embedding)> {
            x.and_then(|(id, f)| f.embedding.as_ref().map(|e| (id, e)))
        }
        let (hi, lo) = (policy.face_match_threshold, policy.face_mismatch_threshold);
        out.push(match (embedding(doc), embedding(selfie)) {
            (Some((doc_file, d)), Some((selfie_file, s))) => {
                let similarity = round3(d.similarity(s));
                let band = if similarity >= hi {
                    "match"
                } else if similarity < lo {
                    "mismatch"
                } else {
                    "review"
                };
                let mut figures = json!({
                    "similarity": similarity, "match_threshold": hi, "mismatch_threshold": lo, "band": band,
                    "document_file_id": doc_file, "selfie_file_id": selfie_file,
                });
                if band != "match" {
                    figures["outcome"] = json!(band);
                    figures["label"] = json!(FACE_MISMATCH);
                }
                CheckResult {
                    name: FACE_MATCH.into(),
                    passed: band == "match",
                    detail: match band {
                        "match" => format!("the selfie matches the document portrait (similarity {similarity} ≥ {hi})"),
                        "mismatch" => format!("the selfie shows someone else than the document (similarity {similarity} < {lo})"),
                        _ => format!(
                            "the faces may not be the same person (similarity {similarity}, between {lo} and {hi}): a person compares them"
                        ),
                    },
                    figures,
                }
            }
            (None, _) if !has_document => inconclusive(FACE_MATCH, "there is no document to compare the selfie with", json!({})),
            (None, _) => inconclusive(
                FACE_MATCH,
                "no face was found on the document: a reviewer compares the selfie with the document portrait",
                json!({}),
            ),
            (Some(_), None) => inconclusive(FACE_MATCH, "no face was found on the selfie to compare", json!({})),
        });
        out
    }
}
