//! The capture pages' words, in English and French. Every text a person reads is here
//! (plain text: the templates escape it).

use kycd_core::{CaptureKind, DocumentType};
use kycd_engine::capture::FeedbackCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Fr => "Français",
        }
    }
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Fr,
            Self::Fr => Self::En,
        }
    }
    /// `fr`, `fr-FR`, `FR` → French; `en…` → English; anything else: none.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "fr" => Some(Self::Fr),
            "en" => Some(Self::En),
            _ => None,
        }
    }
    /// The preferred supported language of an `Accept-Language` header (highest `q`).
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Self::parse) else {
                continue;
            };
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }
    /// The request's `Accept-Language` choice, if it names a supported language.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<Self> {
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::from_accept_language)
    }
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::En => &EN,
            Self::Fr => &FR,
        }
    }

    pub fn document(self, d: DocumentType) -> &'static str {
        let t = self.texts();
        match d {
            DocumentType::Passport => t.doc_passport,
            DocumentType::IdCard => t.doc_id_card,
            DocumentType::DriverLicense => t.doc_driver_license,
            DocumentType::ResidencePermit => t.doc_residence_permit,
        }
    }

    /// Step title and what to do, per capture kind.
    pub fn step(self, k: CaptureKind) -> (&'static str, &'static str) {
        let t = self.texts();
        match k {
            CaptureKind::DocumentFront => (t.front_title, t.front_help),
            CaptureKind::DocumentBack => (t.back_title, t.back_help),
            CaptureKind::Selfie | CaptureKind::DocumentPortrait => (t.selfie_title, t.selfie_help),
            CaptureKind::LivenessBurst => (t.liveness_title, t.liveness_help),
        }
    }

    /// What will be captured, as shown on the consent page.
    pub fn will_capture(self, k: CaptureKind) -> &'static str {
        let t = self.texts();
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

pub struct Texts {
    pub service: &'static str,
    pub footer: &'static str,
    pub consent_title: &'static str,
    /// Followed by the tenant's name.
    pub consent_intro: &'static str,
    /// A reviewer asked for new photos (their own message follows, if any).
    pub reviewer_asked: &'static str,
    pub consent_what: &'static str,
    pub consent_who: &'static str,
    /// `{tenant}` and `{days}` are replaced.
    pub consent_who_text: &'static str,
    pub consent_how_long: &'static str,
    pub consent_how_long_text: &'static str,
    pub consent_agree: &'static str,
    pub cap_front: &'static str,
    pub cap_back: &'static str,
    pub cap_selfie: &'static str,
    pub cap_liveness: &'static str,
    pub liveness_title: &'static str,
    pub liveness_help: &'static str,
    /// Shown until the script starts the camera (none, or no JavaScript).
    pub liveness_needs_camera: &'static str,
    pub liveness_start: &'static str,
    pub liveness_ready: &'static str,
    pub liveness_left: &'static str,
    pub liveness_right: &'static str,
    pub liveness_up: &'static str,
    pub liveness_down: &'static str,
    pub liveness_centre: &'static str,
    pub liveness_sending: &'static str,
    pub liveness_failed: &'static str,
    pub liveness_small: &'static str,
    pub document_title: &'static str,
    pub document_legend: &'static str,
    pub country_label: &'static str,
    pub country_choose: &'static str,
    pub continue_: &'static str,
    /// Desktop-to-phone handoff.
    pub phone_title: &'static str,
    pub phone_text: &'static str,
    pub phone_button: &'static str,
    pub phone_scan: &'static str,
    pub phone_qr_alt: &'static str,
    pub phone_waiting: &'static str,
    pub phone_opened: &'static str,
    pub phone_done: &'static str,
    pub phone_pending: &'static str,
    pub doc_passport: &'static str,
    pub doc_id_card: &'static str,
    pub doc_driver_license: &'static str,
    pub doc_residence_permit: &'static str,
    /// `{n}` and `{total}` are replaced.
    pub step_of: &'static str,
    pub front_title: &'static str,
    pub front_help: &'static str,
    pub back_title: &'static str,
    pub back_help: &'static str,
    pub selfie_title: &'static str,
    pub selfie_help: &'static str,
    pub file_label: &'static str,
    pub file_hint: &'static str,
    pub upload: &'static str,
    pub camera_title: &'static str,
    pub camera_preview: &'static str,
    pub camera_take: &'static str,
    pub camera_retry: &'static str,
    pub camera_starting: &'static str,
    pub camera_ready_document: &'static str,
    pub camera_ready_selfie: &'static str,
    pub camera_sending: &'static str,
    pub camera_denied: &'static str,
    pub camera_missing: &'static str,
    pub camera_busy: &'static str,
    pub camera_dark: &'static str,
    pub camera_failed: &'static str,
    /// Heading of the file field when the camera is shown above it.
    pub camera_or_upload: &'static str,
    pub looks_good: &'static str,
    pub not_usable: &'static str,
    pub not_usable_generic: &'static str,
    pub try_again: &'static str,
    pub keep_title: &'static str,
    /// `{tenant}` is replaced.
    pub keep_text: &'static str,
    pub keep_button: &'static str,
    pub kept: &'static str,
    pub submit_title: &'static str,
    pub submit_text: &'static str,
    pub submit_button: &'static str,
    pub done_title: &'static str,
    pub done_text: &'static str,
    pub closed_title: &'static str,
    pub closed_text: &'static str,
    pub link_used_title: &'static str,
    pub link_used_text: &'static str,
    pub link_invalid_title: &'static str,
    pub link_invalid_text: &'static str,
    pub ask_new_link: &'static str,
    pub session_missing_title: &'static str,
    pub session_missing_text: &'static str,
    pub session_expired_title: &'static str,
    pub session_expired_text: &'static str,
    pub continue_title: &'static str,
    pub continue_text: &'static str,
    pub form_expired_title: &'static str,
    pub form_expired_text: &'static str,
    pub upload_failed: &'static str,
    pub no_file: &'static str,
    pub bad_type: &'static str,
    pub too_large: &'static str,
    pub too_many: &'static str,
    pub busy: &'static str,
    pub unreadable: &'static str,
    pub choice_refused: &'static str,
    pub error_title: &'static str,
    pub error_text: &'static str,
}

pub const EN: Texts = Texts {
    service: "Identity verification",
    footer: "Your pictures are sent encrypted and kept only as long as stated above.",
    consent_title: "Verify your identity",
    consent_intro: "asks you to verify your identity. It takes a few minutes and needs a camera or photos of your document.",
    reviewer_asked: "A reviewer looked at your photos and asks you to take them again.",
    consent_what: "What we will capture",
    consent_who: "Who sees it",
    consent_who_text: "{tenant} and the people who check verifications on its behalf. The pictures are not shared with anyone else.",
    consent_how_long: "How long it is kept",
    consent_how_long_text: "Your pictures and the data read from them are kept for {days} days after the verification ends, then erased.",
    consent_agree: "I agree, continue",
    cap_front: "a photo of the front of your identity document",
    cap_back: "a photo of its back (for cards)",
    cap_selfie: "a photo of your face (a selfie)",
    cap_liveness: "a few seconds of video frames of your face while you turn your head as asked",
    liveness_title: "Turn your head",
    liveness_help: "Show the camera that a real person is there: press Start, then follow the words under the picture, turning your head as asked and back to the centre. It takes about ten seconds.",
    liveness_needs_camera: "This step needs a camera and a browser that runs this page's script. Continue on your phone if this computer has none.",
    liveness_start: "Start",
    liveness_ready: "Put your face inside the oval, look at the camera, then press Start.",
    liveness_left: "Turn your head to your left",
    liveness_right: "Turn your head to your right",
    liveness_up: "Lift your chin: look up",
    liveness_down: "Lower your chin: look down",
    liveness_centre: "Back to the centre",
    liveness_sending: "Sending…",
    liveness_failed: "That did not work. Press Start to try again.",
    liveness_small: "Your camera delivers too small a picture (at least 640×480 is needed). Continue on your phone.",
    document_title: "Choose your document",
    document_legend: "Which document will you use?",
    country_label: "Country that issued the document",
    country_choose: "Choose a country",
    continue_: "Continue",
    phone_title: "Continue on your phone",
    phone_text: "No camera on this computer, or a better one on your phone? Continue there: this page follows your progress.",
    phone_button: "Continue on my phone",
    phone_scan: "Scan this code with your phone's camera, or open the link on your phone. It works once, for 15 minutes.",
    phone_qr_alt: "QR code with the link to continue on your phone",
    phone_waiting: "Waiting for your phone… This page updates itself.",
    phone_opened: "Opened on your phone. Keep going there; this page updates itself.",
    phone_done: "done",
    phone_pending: "still to do",
    doc_passport: "Passport",
    doc_id_card: "Identity card",
    doc_driver_license: "Driving licence",
    doc_residence_permit: "Residence permit",
    step_of: "Step {n} of {total}",
    front_title: "Front of your document",
    front_help: "Place the document on a plain, darker surface, in good light, with all four corners in the picture.",
    back_title: "Back of your document",
    back_help: "Turn the document over; keep all four corners in the picture.",
    selfie_title: "Your selfie",
    selfie_help: "Look straight at the camera, with your face uncovered and well lit.",
    file_label: "Take or choose a photo",
    file_hint: "On a phone this opens the camera. JPEG, PNG, WebP or HEIC.",
    upload: "Send this photo",
    camera_title: "Use your camera",
    camera_preview: "Camera preview",
    camera_take: "Take picture",
    camera_retry: "Try the camera again",
    camera_starting: "Starting the camera…",
    camera_ready_document: "Fit the document inside the frame, hold still, then take the picture.",
    camera_ready_selfie: "Put your face inside the oval, look at the camera, then take the picture.",
    camera_sending: "Sending the picture…",
    camera_denied: "The camera is not allowed for this page. Allow it in your browser’s settings and try again, or choose a photo below.",
    camera_missing: "No camera was found. Choose a photo below instead.",
    camera_busy: "The camera is in use by another app. Close that app and try again, or choose a photo below.",
    camera_dark: "The camera shows only a black picture. Check that nothing covers the lens and that there is light, or choose a photo below.",
    camera_failed: "The camera could not be started. Choose a photo below instead.",
    camera_or_upload: "Or send a photo from your device",
    looks_good: "Looks good.",
    not_usable: "We could not use this picture",
    not_usable_generic: "The picture is not good enough; take it again.",
    try_again: "Take it again below.",
    keep_title: "Still not working?",
    keep_text: "You can continue with this picture. A person at {tenant} will check it by hand, which may take longer.",
    keep_button: "Use this picture anyway",
    kept: "You chose to keep this picture; a person will check it.",
    submit_title: "All pictures are in",
    submit_text: "Send them for verification. You cannot change them afterwards.",
    submit_button: "Send for verification",
    done_title: "Thank you",
    done_text: "Your pictures were sent. You can close this page; the business will tell you the result.",
    closed_title: "This verification is closed",
    closed_text: "It takes no more pictures: it was completed, cancelled or has expired.",
    link_used_title: "This link was already used",
    link_used_text: "A verification link works only once.",
    link_invalid_title: "This link is not valid or has expired",
    link_invalid_text: "The link may be incomplete or too old.",
    ask_new_link: "Ask the business that sent it for a new link.",
    session_missing_title: "Your session has ended",
    session_missing_text: "This page needs the session started by your verification link; it may have been opened in another browser, or cookies are blocked.",
    session_expired_title: "Your session has expired",
    session_expired_text: "For your security a session lasts a limited time.",
    continue_title: "Continue your verification",
    continue_text: "Your session is ready.",
    form_expired_title: "This form could not be accepted",
    form_expired_text: "It was not sent from this page, or the page is too old. Go back, reload the page and try again.",
    upload_failed: "The photo was not accepted",
    no_file: "Choose a photo first.",
    bad_type: "This file is not a photo we can read: use a JPEG, PNG, WebP or HEIC picture.",
    too_large: "This file is too large: take the photo again, or choose a smaller one.",
    too_many: "Too many photos were sent in a short time: wait a minute, then try again.",
    busy: "The service is busy receiving other photos: wait a few seconds, then send yours again.",
    unreadable: "The photo could not be read (it may be damaged): take it again.",
    choice_refused: "This choice is not accepted here: choose another.",
    error_title: "Something went wrong",
    error_text: "Please try again in a moment.",
};

pub const FR: Texts = Texts {
    service: "Vérification d’identité",
    footer: "Vos photos sont envoyées chiffrées et conservées seulement pendant la durée indiquée ci-dessus.",
    consent_title: "Vérifiez votre identité",
    consent_intro: "vous demande de vérifier votre identité. Cela prend quelques minutes et nécessite un appareil photo ou des photos de votre document.",
    reviewer_asked: "Un examinateur a regardé vos photos et vous demande de les reprendre.",
    consent_what: "Ce que nous allons photographier",
    consent_who: "Qui le voit",
    consent_who_text: "{tenant} et les personnes qui vérifient les identités pour son compte. Les photos ne sont partagées avec personne d’autre.",
    consent_how_long: "Combien de temps c’est conservé",
    consent_how_long_text: "Vos photos et les données qui en sont lues sont conservées {days} jours après la fin de la vérification, puis effacées.",
    consent_agree: "J’accepte, continuer",
    cap_front: "une photo du recto de votre pièce d’identité",
    cap_back: "une photo de son verso (pour les cartes)",
    cap_selfie: "une photo de votre visage (un selfie)",
    cap_liveness: "quelques secondes d’images de votre visage pendant que vous tournez la tête comme demandé",
    liveness_title: "Tournez la tête",
    liveness_help: "Montrez à la caméra qu’une vraie personne est là : appuyez sur Commencer, puis suivez les consignes sous l’image en tournant la tête comme demandé et en revenant au centre. Cela prend une dizaine de secondes.",
    liveness_needs_camera: "Cette étape demande une caméra et un navigateur qui exécute le script de cette page. Continuez sur votre téléphone si cet ordinateur n’en a pas.",
    liveness_start: "Commencer",
    liveness_ready: "Placez votre visage dans l’ovale, regardez la caméra, puis appuyez sur Commencer.",
    liveness_left: "Tournez la tête vers votre gauche",
    liveness_right: "Tournez la tête vers votre droite",
    liveness_up: "Levez le menton : regardez en haut",
    liveness_down: "Baissez le menton : regardez en bas",
    liveness_centre: "Revenez au centre",
    liveness_sending: "Envoi…",
    liveness_failed: "Cela n’a pas fonctionné. Appuyez sur Commencer pour réessayer.",
    liveness_small: "Votre caméra donne une image trop petite (640×480 au moins). Continuez sur votre téléphone.",
    document_title: "Choisissez votre document",
    document_legend: "Quel document allez-vous utiliser ?",
    country_label: "Pays qui a délivré le document",
    country_choose: "Choisissez un pays",
    continue_: "Continuer",
    phone_title: "Continuer sur votre téléphone",
    phone_text: "Pas d'appareil photo sur cet ordinateur, ou un meilleur sur votre téléphone ? Continuez-y : cette page suit votre progression.",
    phone_button: "Continuer sur mon téléphone",
    phone_scan: "Scannez ce code avec l'appareil photo de votre téléphone, ou ouvrez le lien sur votre téléphone. Il fonctionne une fois, pendant 15 minutes.",
    phone_qr_alt: "Code QR contenant le lien pour continuer sur votre téléphone",
    phone_waiting: "En attente de votre téléphone… Cette page se met à jour toute seule.",
    phone_opened: "Ouvert sur votre téléphone. Continuez-y ; cette page se met à jour toute seule.",
    phone_done: "fait",
    phone_pending: "à faire",
    doc_passport: "Passeport",
    doc_id_card: "Carte d’identité",
    doc_driver_license: "Permis de conduire",
    doc_residence_permit: "Titre de séjour",
    step_of: "Étape {n} sur {total}",
    front_title: "Recto de votre document",
    front_help: "Posez le document sur une surface unie et plus foncée, bien éclairée, avec les quatre coins dans la photo.",
    back_title: "Verso de votre document",
    back_help: "Retournez le document ; gardez les quatre coins dans la photo.",
    selfie_title: "Votre selfie",
    selfie_help: "Regardez l’appareil bien en face, le visage découvert et bien éclairé.",
    file_label: "Prendre ou choisir une photo",
    file_hint: "Sur un téléphone, cela ouvre l’appareil photo. JPEG, PNG, WebP ou HEIC.",
    upload: "Envoyer cette photo",
    camera_title: "Utiliser votre appareil photo",
    camera_preview: "Aperçu de l’appareil photo",
    camera_take: "Prendre la photo",
    camera_retry: "Réessayer l’appareil photo",
    camera_starting: "Démarrage de l’appareil photo…",
    camera_ready_document: "Placez le document dans le cadre, ne bougez pas, puis prenez la photo.",
    camera_ready_selfie: "Placez votre visage dans l’ovale, regardez l’appareil, puis prenez la photo.",
    camera_sending: "Envoi de la photo…",
    camera_denied: "L’appareil photo n’est pas autorisé pour cette page. Autorisez-le dans les réglages du navigateur et réessayez, ou choisissez une photo ci-dessous.",
    camera_missing: "Aucun appareil photo n’a été trouvé. Choisissez plutôt une photo ci-dessous.",
    camera_busy: "L’appareil photo est utilisé par une autre application. Fermez-la et réessayez, ou choisissez une photo ci-dessous.",
    camera_dark: "L’appareil photo ne montre qu’une image noire. Vérifiez que rien ne couvre l’objectif et qu’il y a de la lumière, ou choisissez une photo ci-dessous.",
    camera_failed: "L’appareil photo n’a pas pu démarrer. Choisissez plutôt une photo ci-dessous.",
    camera_or_upload: "Ou envoyez une photo depuis votre appareil",
    looks_good: "C’est bon.",
    not_usable: "Nous n’avons pas pu utiliser cette photo",
    not_usable_generic: "La photo n’est pas assez bonne ; reprenez-la.",
    try_again: "Reprenez-la ci-dessous.",
    keep_title: "Toujours pas ?",
    keep_text: "Vous pouvez continuer avec cette photo. Une personne de {tenant} la vérifiera, ce qui peut prendre plus de temps.",
    keep_button: "Utiliser quand même cette photo",
    kept: "Vous avez choisi de garder cette photo ; une personne la vérifiera.",
    submit_title: "Toutes les photos sont prises",
    submit_text: "Envoyez-les pour vérification. Vous ne pourrez plus les modifier ensuite.",
    submit_button: "Envoyer pour vérification",
    done_title: "Merci",
    done_text: "Vos photos ont été envoyées. Vous pouvez fermer cette page ; l’entreprise vous communiquera le résultat.",
    closed_title: "Cette vérification est terminée",
    closed_text: "Elle n’accepte plus de photos : elle a été terminée, annulée ou a expiré.",
    link_used_title: "Ce lien a déjà été utilisé",
    link_used_text: "Un lien de vérification ne fonctionne qu’une fois.",
    link_invalid_title: "Ce lien n’est pas valide ou a expiré",
    link_invalid_text: "Le lien est peut-être incomplet ou trop ancien.",
    ask_new_link: "Demandez un nouveau lien à l’entreprise qui vous l’a envoyé.",
    session_missing_title: "Votre session est terminée",
    session_missing_text: "Cette page a besoin de la session ouverte par votre lien de vérification ; il a peut-être été ouvert dans un autre navigateur, ou les cookies sont bloqués.",
    session_expired_title: "Votre session a expiré",
    session_expired_text: "Pour votre sécurité, une session dure un temps limité.",
    continue_title: "Poursuivre votre vérification",
    continue_text: "Votre session est prête.",
    form_expired_title: "Ce formulaire n’a pas pu être accepté",
    form_expired_text: "Il n’a pas été envoyé depuis cette page, ou la page est trop ancienne. Revenez en arrière, rechargez la page et réessayez.",
    upload_failed: "La photo n’a pas été acceptée",
    no_file: "Choisissez d’abord une photo.",
    bad_type: "Ce fichier n’est pas une photo lisible : utilisez une image JPEG, PNG, WebP ou HEIC.",
    too_large: "Ce fichier est trop volumineux : reprenez la photo ou choisissez-en une plus petite.",
    too_many: "Trop de photos ont été envoyées en peu de temps : attendez une minute, puis réessayez.",
    busy: "Le service reçoit beaucoup d'autres photos : attendez quelques secondes, puis renvoyez la vôtre.",
    unreadable: "La photo n’a pas pu être lue (elle est peut-être abîmée) : reprenez-la.",
    choice_refused: "Ce choix n’est pas accepté ici : choisissez-en un autre.",
    error_title: "Une erreur est survenue",
    error_text: "Réessayez dans un instant.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de-DE,en;q=0.5,fr;q=0.7"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("en-GB, fr;q=0.2"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, es"), None);
        assert_eq!(Lang::from_accept_language("fr;q=0"), None);
        assert_eq!(Lang::parse("FR_be"), Some(Lang::Fr));
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
