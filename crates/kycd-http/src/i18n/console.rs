//! The console's words.

use super::{Lang, texts};

texts! {
    Texts {
        console: "Review console", "Console de revue";
        sign_in: "Sign in", "Se connecter";
        sign_out: "Sign out", "Se déconnecter";
        email: "Email", "E-mail";
        password: "Password", "Mot de passe";
        code: "Sign-in code (if you enabled one)", "Code de connexion (si activé)";
        code_help: "The 6 digits your authenticator app shows.", "Les 6 chiffres affichés par votre application d'authentification.";
        sign_in_failed: "Sign-in failed", "Échec de la connexion";
        locked: "Too many sign-in tries", "Trop de tentatives de connexion";
        busy: "The server is busy", "Le serveur est occupé";
        totp_replace: "Replace the key", "Remplacer la clé";
        totp_replace_text:
            "To move your second factor to another app or phone, scan this new key there, then type a code from the new app and one from the app that has the current key.",
            "Pour passer votre second facteur sur une autre application ou un autre téléphone, scannez-y cette nouvelle clé, puis saisissez un code de la nouvelle application et un de celle qui a la clé actuelle.";
        totp_current_code: "Code from the app with the current key", "Code de l'application qui a la clé actuelle";
        session_over: "Your session has ended", "Votre session a pris fin";
        session_over_text:
            "Sessions end after 30 minutes without activity. Sign in again.",
            "Les sessions prennent fin après 30 minutes d'inactivité. Reconnectez-vous.";
        form_expired: "This form has expired", "Ce formulaire a expiré";
        form_expired_text: "Reload the page and send it again.", "Rechargez la page et envoyez-le de nouveau.";
        queue: "Review queue", "File de revue";
        admin: "Admin", "Administration";
        account: "Account", "Compte";
        status: "Status", "Statut";
        from: "Created from", "Créée à partir du";
        to: "Created before", "Créée avant le";
        reason: "Reason", "Motif";
        any: "Any", "Tous";
        search: "Verification id, external id or reference", "Id de vérification, id externe ou référence";
        filter: "Filter", "Filtrer";
        age: "Waiting", "En attente depuis";
        verification: "Verification", "Vérification";
        created: "Created", "Créée";
        queue_empty:
            "Nothing to review. New cases appear here oldest first.",
            "Rien à examiner. Les nouveaux dossiers apparaissent ici, du plus ancien au plus récent.";
        awaiting_second: "Waiting for a second reviewer", "En attente d'un second examinateur";
        images: "Images", "Images";
        zoom: "Zoom", "Zoom";
        rotate: "Rotate", "Pivoter";
        download: "Download", "Télécharger";
        image_erased: "This image was erased.", "Cette image a été effacée.";
        liveness_frames: "Liveness burst: the frames in capture order", "Rafale de vivacité : les images dans l'ordre de capture";
        liveness_unprocessed: "The frames are listed once the burst is checked.", "Les images sont affichées une fois la rafale vérifiée.";
        liveness_asked: "Asked", "Demandé";
        liveness_reasons: "Reasons", "Motifs";
        liveness_frame: "Frame", "Image";
        yaw: "Yaw°", "Lacet°";
        pitch: "Pitch°", "Tangage°";
        parallax: "Parallax", "Parallaxe";
        data: "Data", "Données";
        field: "Field", "Champ";
        declared: "Declared by the business", "Déclaré par l'entreprise";
        read: "Read from the document", "Lu sur le document";
        mismatch: "Mismatch", "Divergence";
        full_name: "Name", "Nom";
        birth_date: "Birth date", "Date de naissance";
        document_number: "Document number", "Numéro du document";
        document_type: "Document type", "Type de document";
        issuing_country: "Issuing country", "Pays d'émission";
        nationality: "Nationality", "Nationalité";
        expiry_date: "Expiry date", "Date d'expiration";
        checks: "Checks", "Contrôles";
        check: "Check", "Contrôle";
        result: "Result", "Résultat";
        passed: "passed", "réussi";
        failed: "failed", "échoué";
        figures: "Figures", "Mesures";
        risks: "Risk signals", "Signaux de risque";
        no_risks: "None", "Aucun";
        attempts: "Attempts", "Tentatives";
        timeline: "Audit trail", "Journal d'audit";
        when: "When", "Quand";
        who: "Who", "Qui";
        what: "What", "Quoi";
        decisions: "Decisions", "Décisions";
        no_decision: "No decision yet.", "Aucune décision pour l'instant.";
        first_decision: "First decision (four eyes)", "Première décision (quatre yeux)";
        decide: "Decide", "Décider";
        approve: "Approve", "Approuver";
        decline: "Decline", "Refuser";
        retry: "Request a new capture", "Demander une nouvelle capture";
        note: "Internal note (not shown to the person)", "Note interne (non montrée à la personne)";
        user_message: "Message the person may see", "Message que la personne peut voir";
        shortcuts:
            "Keys: A approve, D decline, R new capture, N next case.",
            "Touches : A approuver, D refuser, R nouvelle capture, N dossier suivant.";
        next_case: "Next case", "Dossier suivant";
        four_eyes_note:
            "Four eyes is on: a decline, or an approval with risk signals, takes effect when a second reviewer confirms it.",
            "Quatre yeux activé : un refus, ou une approbation avec signaux de risque, prend effet quand un second examinateur le confirme.";
        decided: "Decision recorded", "Décision enregistrée";
        proposed:
            "First decision recorded: a second reviewer must confirm it.",
            "Première décision enregistrée : un second examinateur doit la confirmer.";
        not_decidable: "This verification is not waiting for review.", "Cette vérification n'attend pas de revue.";
        downloads: "Downloads", "Téléchargements";
        report_pdf: "PDF report", "Rapport PDF";
        evidence_zip: "Evidence archive (ZIP)", "Archive des preuves (ZIP)";
        not_found: "Not found", "Introuvable";
        not_found_text:
            "There is no such page or verification in your organisation.",
            "Cette page ou cette vérification n'existe pas dans votre organisation.";
        forbidden: "Not allowed", "Non autorisé";
        forbidden_text:
            "Your role does not allow this page. Ask an admin.",
            "Votre rôle ne permet pas d'accéder à cette page. Demandez à un administrateur.";
        problem: "That did not work", "Cela n'a pas fonctionné";
        error: "Something went wrong on our side", "Un problème est survenu de notre côté";
        error_text:
            "Try again in a moment. If it keeps happening, tell your kycd operator.",
            "Réessayez dans un instant. Si cela persiste, prévenez votre opérateur kycd.";
        back: "Back", "Retour";
        operators: "Operators", "Opérateurs";
        role: "Role", "Rôle";
        reviewer: "Reviewer", "Examinateur";
        admin_role: "Admin", "Administrateur";
        invite: "Invite", "Inviter";
        reinvite: "New invitation link", "Nouveau lien d'invitation";
        disable: "Disable", "Désactiver";
        enable: "Enable", "Réactiver";
        invited:
            "Invitation link (shown once, valid 72 hours): send it to the person.",
            "Lien d'invitation (affiché une seule fois, valable 72 heures) : envoyez-le à la personne.";
        state: "State", "État";
        active: "active", "actif";
        pending_invite: "invited", "invité";
        disabled: "disabled", "désactivé";
        two_factor: "Second factor", "Second facteur";
        on: "on", "activé";
        off: "off", "désactivé";
        settings: "Settings", "Paramètres";
        four_eyes:
            "Four eyes: a second reviewer confirms declines and approvals with risk signals",
            "Quatre yeux : un second examinateur confirme les refus et les approbations avec signaux de risque";
        retention_days: "Days kept after a verification ends", "Jours de conservation après la fin d'une vérification";
        max_retention_days:
            "Longest retention one verification may ask for (days)",
            "Conservation maximale qu'une vérification peut demander (jours)";
        tombstone_days: "Days an anonymized record is kept", "Jours de conservation d'un dossier anonymisé";
        save: "Save", "Enregistrer";
        saved: "Saved", "Enregistré";
        api_keys: "API keys", "Clés d'API";
        key: "Key", "Clé";
        scope: "Scope", "Portée";
        revoked: "revoked", "révoquée";
        revoke: "Revoke", "Révoquer";
        create_key: "Create a key", "Créer une clé";
        key_created: "New API key (shown once: store it now)", "Nouvelle clé d'API (affichée une seule fois : conservez-la maintenant)";
        webhooks: "Webhook endpoints", "Points de terminaison webhook";
        deliveries: "Delivery log", "Journal des livraisons";
        url: "URL", "URL";
        add_endpoint: "Add an endpoint (all events)", "Ajouter un point de terminaison (tous les événements)";
        endpoint_created:
            "New endpoint and its signing secret (shown once: store it now)",
            "Nouveau point de terminaison et son secret de signature (affiché une seule fois : conservez-le maintenant)";
        redeliver: "Send again", "Renvoyer";
        event: "Event", "Événement";
        attempt_count: "Tries", "Essais";
        last_status: "Last answer", "Dernière réponse";
        none_yet: "None yet.", "Aucun pour l'instant.";
        policy: "Policy", "Politique";
        policy_text:
            "Verifications created without a policy of their own run under this one; each keeps the policy it was created with. Saving makes a new version.",
            "Les vérifications créées sans politique propre suivent celle-ci ; chacune garde la politique avec laquelle elle a été créée. Enregistrer crée une nouvelle version.";
        policy_version: "Current version", "Version actuelle";
        policy_defaults: "kycd defaults (never changed)", "valeurs par défaut de kycd (jamais modifiées)";
        totp_title: "Second factor (authenticator app)", "Second facteur (application d'authentification)";
        totp_on: "A second factor protects your account.", "Un second facteur protège votre compte.";
        totp_setup:
            "Add this key to your authenticator app (or open the link on your phone), then type the 6-digit code it shows.",
            "Ajoutez cette clé à votre application d'authentification (ou ouvrez le lien sur votre téléphone), puis saisissez le code à 6 chiffres affiché.";
        totp_key: "Key", "Clé";
        totp_link: "Open in authenticator app", "Ouvrir dans l'application d'authentification";
        totp_enable: "Turn on", "Activer";
        invite_title: "Set your password", "Choisissez votre mot de passe";
        invite_text:
            "Choose a password of at least 12 characters; a few words make a good one.",
            "Choisissez un mot de passe d'au moins 12 caractères ; quelques mots en font un bon.";
        invite_done: "Your password is set. Sign in.", "Votre mot de passe est défini. Connectez-vous.";
        password_again: "Password again", "Mot de passe (confirmation)";
        passwords_differ: "The two passwords differ.", "Les deux mots de passe diffèrent.";
        signed_in_as: "Signed in as", "Connecté en tant que";
    }
}

/// The labels of the review reason codes (the engine's `review_reasons`): (code,
/// English, French).
const REASON_LABELS: &[(&str, &str, &str)] = &[
    (
        "document_verified_manually",
        "Document checked by hand",
        "Document vérifié manuellement",
    ),
    (
        "selfie_matches_document",
        "Selfie matches the document photo",
        "Le selfie correspond à la photo du document",
    ),
    ("quality_acceptable", "Image quality is good enough", "Qualité d'image suffisante"),
    ("document_expired", "Document expired", "Document expiré"),
    ("document_not_accepted", "Document not accepted", "Document non accepté"),
    ("data_mismatch", "Data does not match", "Les données ne correspondent pas"),
    ("face_mismatch", "Face does not match", "Le visage ne correspond pas"),
    ("suspected_fraud", "Suspected fraud", "Fraude suspectée"),
    ("poor_image_quality", "Images too poor to judge", "Images trop mauvaises pour juger"),
    ("wrong_document", "Wrong document", "Mauvais document"),
    ("document_cut_off", "Document cut off", "Document coupé"),
    ("selfie_missing", "Selfie missing or unusable", "Selfie manquant ou inutilisable"),
];

/// The label of a review reason code, in the list's language.
pub fn reason_label(lang: Lang, code: &str) -> String {
    match REASON_LABELS.iter().find(|(k, _, _)| *k == code) {
        Some((_, en, fr)) => match lang {
            Lang::En => en,
            Lang::Fr => fr,
        }
        .to_string(),
        None => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_translated() {
        let mut keys: Vec<&str> = ALL.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate console text keys");
        for (k, en, fr) in ALL.iter().chain(REASON_LABELS) {
            assert!(!en.is_empty() && !fr.is_empty(), "{k}");
        }
    }

    #[test]
    fn every_review_reason_has_a_label_in_both_languages() {
        for (code, _) in kycd_engine::console::review_reasons() {
            assert!(REASON_LABELS.iter().any(|(k, _, _)| *k == code), "{code}");
            assert_ne!(reason_label(Lang::Fr, code), code);
        }
    }
}
