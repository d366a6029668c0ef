//! The capture page's words, and the words for what it asks of the person: documents,
//! steps, and advice for a photo the checks could not use.

use super::{Lang, texts};
use kycd_core::{CaptureKind, DocumentType};
use kycd_engine::capture::FeedbackCode;

texts! {
    Texts {
        service: "Identity verification", "Vérification d’identité";
        footer:
            "Your pictures are sent encrypted and kept only as long as stated above.",
            "Vos photos sont envoyées chiffrées et conservées seulement pendant la durée indiquée ci-dessus.";
        consent_title: "Verify your identity", "Vérifiez votre identité";
        /// Followed by the tenant's name.
        consent_intro:
            "asks you to verify your identity. It takes a few minutes and needs a camera or photos of your document.",
            "vous demande de vérifier votre identité. Cela prend quelques minutes et nécessite un appareil photo ou des photos de votre document.";
        /// A reviewer asked for new photos (their own message follows, if any).
        reviewer_asked:
            "A reviewer looked at your photos and asks you to take them again.",
            "Un examinateur a regardé vos photos et vous demande de les reprendre.";
        consent_what: "What we will capture", "Ce que nous allons photographier";
        consent_who: "Who sees it", "Qui le voit";
        /// `{tenant}` and `{days}` are replaced.
        consent_who_text:
            "{tenant} and the people who check verifications on its behalf. The pictures are not shared with anyone else.",
            "{tenant} et les personnes qui vérifient les identités pour son compte. Les photos ne sont partagées avec personne d’autre.";
        consent_how_long: "How long it is kept", "Combien de temps c’est conservé";
        consent_how_long_text:
            "Your pictures and the data read from them are kept for {days} days after the verification ends, then erased.",
            "Vos photos et les données qui en sont lues sont conservées {days} jours après la fin de la vérification, puis effacées.";
        consent_agree: "I agree, continue", "J’accepte, continuer";
        cap_front: "a photo of the front of your identity document", "une photo du recto de votre pièce d’identité";
        cap_back: "a photo of its back (for cards)", "une photo de son verso (pour les cartes)";
        cap_selfie: "a photo of your face (a selfie)", "une photo de votre visage (un selfie)";
        cap_liveness:
            "a few seconds of video frames of your face while you turn your head as asked",
            "quelques secondes d’images de votre visage pendant que vous tournez la tête comme demandé";
        liveness_title: "Turn your head", "Tournez la tête";
        liveness_help:
            "Show the camera that a real person is there: press Start, then follow the words under the picture, turning your head as asked and back to the centre. It takes about ten seconds.",
            "Montrez à la caméra qu’une vraie personne est là : appuyez sur Commencer, puis suivez les consignes sous l’image en tournant la tête comme demandé et en revenant au centre. Cela prend une dizaine de secondes.";
        /// Shown until the script starts the camera (none, or no JavaScript).
        liveness_needs_camera:
            "This step needs a camera and a browser that runs this page's script. Continue on your phone if this computer has none.",
            "Cette étape demande une caméra et un navigateur qui exécute le script de cette page. Continuez sur votre téléphone si cet ordinateur n’en a pas.";
        liveness_start: "Start", "Commencer";
        liveness_ready:
            "Put your face inside the oval, look at the camera, then press Start.",
            "Placez votre visage dans l’ovale, regardez la caméra, puis appuyez sur Commencer.";
        liveness_left: "Turn your head to your left", "Tournez la tête vers votre gauche";
        liveness_right: "Turn your head to your right", "Tournez la tête vers votre droite";
        liveness_up: "Lift your chin: look up", "Levez le menton : regardez en haut";
        liveness_down: "Lower your chin: look down", "Baissez le menton : regardez en bas";
        liveness_centre: "Back to the centre", "Revenez au centre";
        liveness_sending: "Sending…", "Envoi…";
        liveness_failed: "That did not work. Press Start to try again.", "Cela n’a pas fonctionné. Appuyez sur Commencer pour réessayer.";
        liveness_small:
            "Your camera delivers too small a picture (at least 640×480 is needed). Continue on your phone.",
            "Votre caméra donne une image trop petite (640×480 au moins). Continuez sur votre téléphone.";
        document_title: "Choose your document", "Choisissez votre document";
        document_legend: "Which document will you use?", "Quel document allez-vous utiliser ?";
        country_label: "Country that issued the document", "Pays qui a délivré le document";
        country_choose: "Choose a country", "Choisissez un pays";
        continue_: "Continue", "Continuer";
        /// Desktop-to-phone handoff.
        phone_title: "Continue on your phone", "Continuer sur votre téléphone";
        phone_text:
            "No camera on this computer, or a better one on your phone? Continue there: this page follows your progress.",
            "Pas d'appareil photo sur cet ordinateur, ou un meilleur sur votre téléphone ? Continuez-y : cette page suit votre progression.";
        phone_button: "Continue on my phone", "Continuer sur mon téléphone";
        phone_scan:
            "Scan this code with your phone's camera, or open the link on your phone. It works once, for 15 minutes.",
            "Scannez ce code avec l'appareil photo de votre téléphone, ou ouvrez le lien sur votre téléphone. Il fonctionne une fois, pendant 15 minutes.";
        phone_qr_alt: "QR code with the link to continue on your phone", "Code QR contenant le lien pour continuer sur votre téléphone";
        phone_waiting:
            "Waiting for your phone… This page updates itself.",
            "En attente de votre téléphone… Cette page se met à jour toute seule.";
        phone_opened:
            "Opened on your phone. Keep going there; this page updates itself.",
            "Ouvert sur votre téléphone. Continuez-y ; cette page se met à jour toute seule.";
        phone_done: "done", "fait";
        phone_pending: "still to do", "à faire";
        doc_passport: "Passport", "Passeport";
        doc_id_card: "Identity card", "Carte d’identité";
        doc_driver_license: "Driving licence", "Permis de conduire";
        doc_residence_permit: "Residence permit", "Titre de séjour";
        /// `{n}` and `{total}` are replaced.
        step_of: "Step {n} of {total}", "Étape {n} sur {total}";
        front_title: "Front of your document", "Recto de votre document";
        front_help:
            "Place the document on a plain, darker surface, in good light, with all four corners in the picture.",
            "Posez le document sur une surface unie et plus foncée, bien éclairée, avec les quatre coins dans la photo.";
        back_title: "Back of your document", "Verso de votre document";
        back_help:
            "Turn the document over; keep all four corners in the picture.",
            "Retournez le document ; gardez les quatre coins dans la photo.";
        selfie_title: "Your selfie", "Votre selfie";
        selfie_help:
            "Look straight at the camera, with your face uncovered and well lit.",
            "Regardez l’appareil bien en face, le visage découvert et bien éclairé.";
        file_label: "Take or choose a photo", "Prendre ou choisir une photo";
        file_hint:
            "On a phone this opens the camera. JPEG, PNG, WebP or HEIC.",
            "Sur un téléphone, cela ouvre l’appareil photo. JPEG, PNG, WebP ou HEIC.";
        upload: "Send this photo", "Envoyer cette photo";
        camera_title: "Use your camera", "Utiliser votre appareil photo";
        camera_preview: "Camera preview", "Aperçu de l’appareil photo";
        camera_take: "Take picture", "Prendre la photo";
        camera_retry: "Try the camera again", "Réessayer l’appareil photo";
        camera_starting: "Starting the camera…", "Démarrage de l’appareil photo…";
        camera_ready_document:
            "Fit the document inside the frame, hold still, then take the picture.",
            "Placez le document dans le cadre, ne bougez pas, puis prenez la photo.";
        camera_ready_selfie:
            "Put your face inside the oval, look at the camera, then take the picture.",
            "Placez votre visage dans l’ovale, regardez l’appareil, puis prenez la photo.";
        camera_sending: "Sending the picture…", "Envoi de la photo…";
        camera_denied:
            "The camera is not allowed for this page. Allow it in your browser’s settings and try again, or choose a photo below.",
            "L’appareil photo n’est pas autorisé pour cette page. Autorisez-le dans les réglages du navigateur et réessayez, ou choisissez une photo ci-dessous.";
        camera_missing:
            "No camera was found. Choose a photo below instead.",
            "Aucun appareil photo n’a été trouvé. Choisissez plutôt une photo ci-dessous.";
        camera_busy:
            "The camera is in use by another app. Close that app and try again, or choose a photo below.",
            "L’appareil photo est utilisé par une autre application. Fermez-la et réessayez, ou choisissez une photo ci-dessous.";
        camera_dark:
            "The camera shows only a black picture. Check that nothing covers the lens and that there is light, or choose a photo below.",
            "L’appareil photo ne montre qu’une image noire. Vérifiez que rien ne couvre l’objectif et qu’il y a de la lumière, ou choisissez une photo ci-dessous.";
        camera_failed:
            "The camera could not be started. Choose a photo below instead.",
            "L’appareil photo n’a pas pu démarrer. Choisissez plutôt une photo ci-dessous.";
        /// Heading of the file field when the camera is shown above it.
        camera_or_upload: "Or send a photo from your device", "Ou envoyez une photo depuis votre appareil";
        looks_good: "Looks good.", "C’est bon.";
        not_usable: "We could not use this picture", "Nous n’avons pas pu utiliser cette photo";
        not_usable_generic: "The picture is not good enough; take it again.", "La photo n’est pas assez bonne ; reprenez-la.";
        try_again: "Take it again below.", "Reprenez-la ci-dessous.";
        keep_title: "Still not working?", "Toujours pas ?";
        /// `{tenant}` is replaced.
        keep_text:
            "You can continue with this picture. A person at {tenant} will check it by hand, which may take longer.",
            "Vous pouvez continuer avec cette photo. Une personne de {tenant} la vérifiera, ce qui peut prendre plus de temps.";
        keep_button: "Use this picture anyway", "Utiliser quand même cette photo";
        kept: "You chose to keep this picture; a person will check it.", "Vous avez choisi de garder cette photo ; une personne la vérifiera.";
        submit_title: "All pictures are in", "Toutes les photos sont prises";
        submit_text:
            "Send them for verification. You cannot change them afterwards.",
            "Envoyez-les pour vérification. Vous ne pourrez plus les modifier ensuite.";
        submit_button: "Send for verification", "Envoyer pour vérification";
        done_title: "Thank you", "Merci";
        done_text:
            "Your pictures were sent. You can close this page; the business will tell you the result.",
            "Vos photos ont été envoyées. Vous pouvez fermer cette page ; l’entreprise vous communiquera le résultat.";
        closed_title: "This verification is closed", "Cette vérification est terminée";
        closed_text:
            "It takes no more pictures: it was completed, cancelled or has expired.",
            "Elle n’accepte plus de photos : elle a été terminée, annulée ou a expiré.";
        link_used_title: "This link was already used", "Ce lien a déjà été utilisé";
        link_used_text: "A verification link works only once.", "Un lien de vérification ne fonctionne qu’une fois.";
        link_invalid_title: "This link is not valid or has expired", "Ce lien n’est pas valide ou a expiré";
        link_invalid_text: "The link may be incomplete or too old.", "Le lien est peut-être incomplet ou trop ancien.";
        ask_new_link: "Ask the business that sent it for a new link.", "Demandez un nouveau lien à l’entreprise qui vous l’a envoyé.";
        session_missing_title: "Your session has ended", "Votre session est terminée";
        session_missing_text:
            "This page needs the session started by your verification link; it may have been opened in another browser, or cookies are blocked.",
            "Cette page a besoin de la session ouverte par votre lien de vérification ; il a peut-être été ouvert dans un autre navigateur, ou les cookies sont bloqués.";
        session_expired_title: "Your session has expired", "Votre session a expiré";
        session_expired_text: "For your security a session lasts a limited time.", "Pour votre sécurité, une session dure un temps limité.";
        continue_title: "Continue your verification", "Poursuivre votre vérification";
        continue_text: "Your session is ready.", "Votre session est prête.";
        form_expired_title: "This form could not be accepted", "Ce formulaire n’a pas pu être accepté";
        form_expired_text:
            "It was not sent from this page, or the page is too old. Go back, reload the page and try again.",
            "Il n’a pas été envoyé depuis cette page, ou la page est trop ancienne. Revenez en arrière, rechargez la page et réessayez.";
        upload_failed: "The photo was not accepted", "La photo n’a pas été acceptée";
        no_file: "Choose a photo first.", "Choisissez d’abord une photo.";
        bad_type:
            "This file is not a photo we can read: use a JPEG, PNG, WebP or HEIC picture.",
            "Ce fichier n’est pas une photo lisible : utilisez une image JPEG, PNG, WebP ou HEIC.";
        too_large:
            "This file is too large: take the photo again, or choose a smaller one.",
            "Ce fichier est trop volumineux : reprenez la photo ou choisissez-en une plus petite.";
        too_many:
            "Too many photos were sent in a short time: wait a minute, then try again.",
            "Trop de photos ont été envoyées en peu de temps : attendez une minute, puis réessayez.";
        busy:
            "The service is busy receiving other photos: wait a few seconds, then send yours again.",
            "Le service reçoit beaucoup d'autres photos : attendez quelques secondes, puis renvoyez la vôtre.";
        unreadable:
            "The photo could not be read (it may be damaged): take it again.",
            "La photo n’a pas pu être lue (elle est peut-être abîmée) : reprenez-la.";
        choice_refused: "This choice is not accepted here: choose another.", "Ce choix n’est pas accepté ici : choisissez-en un autre.";
        error_title: "Something went wrong", "Une erreur est survenue";
        error_text: "Please try again in a moment.", "Réessayez dans un instant.";
    }
}

impl Lang {
    pub fn document(self, d: DocumentType) -> &'static str {
        let t = self.capture();
        match d {
            DocumentType::Passport => t.doc_passport,
            DocumentType::IdCard => t.doc_id_card,
            DocumentType::DriverLicense => t.doc_driver_license,
            DocumentType::ResidencePermit => t.doc_residence_permit,
        }
    }

    /// Step title and what to do, per capture kind.
    pub fn step(self, k: CaptureKind) -> (&'static str, &'static str) {
        let t = self.capture();
        match k {
            CaptureKind::DocumentFront => (t.front_title, t.front_help),
            CaptureKind::DocumentBack => (t.back_title, t.back_help),
            CaptureKind::Selfie | CaptureKind::DocumentPortrait => (t.selfie_title, t.selfie_help),
            CaptureKind::LivenessBurst => (t.liveness_title, t.liveness_help),
        }
    }

    /// What will be captured, as shown on the consent page.
    pub fn will_capture(self, k: CaptureKind) -> &'static str {
        let t = self.capture();
        match k {
            CaptureKind::DocumentFront => t.cap_front,
            CaptureKind::DocumentBack => t.cap_back,
            CaptureKind::Selfie | CaptureKind::DocumentPortrait => t.cap_selfie,
            CaptureKind::LivenessBurst => t.cap_liveness,
        }
    }

    /// Plain advice for a quality code (`None` for a code that asks nothing of the person).
    pub fn advice(self, code: &str) -> Option<String> {
        let c = FEEDBACK_CODES.into_iter().find(|c| c.as_str() == code)?;
        if !c.blocking() {
            return None;
        }
        Some(match self {
            Self::En => c.advice().to_owned(),
            Self::Fr => match c {
                FeedbackCode::LowResolution => "La photo est trop petite ; rapprochez-vous ou utilisez l’appareil photo principal.",
                FeedbackCode::Blurry => "La photo est floue ; ne bougez pas et laissez l’appareil faire la mise au point.",
                FeedbackCode::Glare => "La lumière se reflète sur le document ; inclinez-le ou éloignez-vous de la lampe.",
                FeedbackCode::TooDark => "La photo est trop sombre ; trouvez plus de lumière.",
                FeedbackCode::TooBright => "La photo est trop claire ; évitez la lumière directe sur le document.",
                FeedbackCode::DocumentNotFound => {
                    "Nous ne voyons pas de document ; posez-le sur une surface unie et plus foncée, et remplissez presque tout le cadre."
                }
                FeedbackCode::DocumentCropped => "Une partie du document est coupée ; gardez les quatre coins dans le cadre.",
                FeedbackCode::FaceNotFound => {
                    "Nous ne voyons pas votre visage ; regardez l’appareil, le visage entier dans le cadre et rien devant."
                }
                FeedbackCode::MultipleFaces => "Il y a plus d’un visage sur la photo ; soyez seul dans le cadre.",
                FeedbackCode::FaceNotChecked => "Le visage n’est pas vérifié automatiquement sur ce serveur.",
            }
            .to_owned(),
        })
    }
}

/// Every quality code the checks raise.
const FEEDBACK_CODES: [FeedbackCode; 10] = [
    FeedbackCode::LowResolution,
    FeedbackCode::Blurry,
    FeedbackCode::Glare,
    FeedbackCode::TooDark,
    FeedbackCode::TooBright,
    FeedbackCode::DocumentNotFound,
    FeedbackCode::DocumentCropped,
    FeedbackCode::FaceNotFound,
    FeedbackCode::MultipleFaces,
    FeedbackCode::FaceNotChecked,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_translated() {
        for (k, en, fr) in ALL {
            assert!(!en.is_empty() && !fr.is_empty(), "{k}");
        }
    }

    #[test]
    fn blocking_codes_have_advice_in_both_languages() {
        for c in FEEDBACK_CODES {
            for l in [Lang::En, Lang::Fr] {
                assert_eq!(l.advice(c.as_str()).is_some(), c.blocking(), "{c} in {l:?}");
            }
        }
        assert!(Lang::Fr.advice("blurry").unwrap().contains("floue"));
        assert_eq!(Lang::En.advice("nonsense"), None);
    }
}
