//! User notices: both built-in languages, every placeholder filled, bad templates refused.

use spoor_report::notice::{self, NoticeFacts, Templates, PLACEHOLDERS};
use spoor_report::ReportError;

fn facts() -> NoticeFacts {
    NoticeFacts {
        case_id: 4711,
        content_ref: "https://img.example.org/p/99".into(),
        // 2026-11-30T12:34:56Z
        decided_at: 1_796_042_096_000,
        service: "Photo sharing".into(),
        complaint_url: "https://example.org/complaints".into(),
        found: "an image that matched known child sexual abuse material".into(),
        done: "the image was removed".into(),
    }
}

#[test]
fn both_languages_render_with_every_fact() {
    let templates = Templates::builtin();
    assert_eq!(templates.languages().collect::<Vec<_>>(), ["en", "nl"]);
    for lang in ["en", "nl"] {
        let n = notice::render(lang, &facts(), &templates).unwrap();
        assert_eq!(n.lang, lang);
        assert!(n.subject.contains("4711") && n.subject.contains("Photo sharing"), "{}", n.subject);
        for value in [
            "https://img.example.org/p/99",
            "2026-11-30 12:34 UTC",
            "https://example.org/complaints",
            "an image that matched known child sexual abuse material",
            "the image was removed",
            "Autoriteit Persoonsgegevens",
        ] {
            assert!(n.body.contains(value), "{lang} body lacks {value:?}:\n{}", n.body);
        }
        assert!(!n.body.contains('{') && !n.body.contains('}'), "{}", n.body);
    }
    let en = notice::render("en", &facts(), &templates).unwrap();
    let nl = notice::render("nl", &facts(), &templates).unwrap();
    assert!(en.body.contains("go to court"));
    assert!(nl.body.contains("naar de rechter"));
    assert!(nl.subject.contains("verwijderd"));
}

#[test]
fn every_placeholder_is_used_by_the_built_in_templates_and_filled() {
    let mut templates = Templates::builtin();
    let all: String = PLACEHOLDERS.iter().map(|p| format!("[{p}={{{p}}}]")).collect();
    templates.set("xx", &format!("Subject: {{case_id}}\n\n{all}")).unwrap();
    let n = notice::render("xx", &facts(), &templates).unwrap();
    assert_eq!(
        n.body,
        "[case_id=4711][content_ref=https://img.example.org/p/99][decided_at=2026-11-30 12:34 UTC]\
         [service=Photo sharing][complaint_url=https://example.org/complaints]\
         [found=an image that matched known child sexual abuse material][done=the image was removed]"
    );
    for lang in ["en", "nl"] {
        let text = match lang {
            "en" => include_str!("../templates/notice-en.txt"),
            _ => include_str!("../templates/notice-nl.txt"),
        };
        for p in PLACEHOLDERS {
            assert!(text.contains(&format!("{{{p}}}")), "{lang} template lacks {{{p}}}");
        }
    }
}

#[test]
fn unknown_placeholders_and_bad_templates_are_refused() {
    let mut templates = Templates::builtin();
    let err = templates.set("en", "Subject: x\n\nHello {user_name}.").unwrap_err();
    match &err {
        ReportError::UnknownPlaceholder { name, template, .. } => {
            assert_eq!((name.as_str(), template.as_str()), ("user_name", "en"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("{case_id}"), "{err}");
    // The refused template did not replace the built-in one.
    assert_eq!(templates, Templates::builtin());
    for bad in [
        "no subject\n\nbody",
        "Subject: x\nbody right away",
        "Subject: \n\nbody",
        "Subject: x\n\n",
        "Subject: x\n\nopen {case_id",
        "Subject: x\n\nlone } brace",
    ] {
        assert!(
            matches!(templates.set("en", bad), Err(ReportError::BadTemplate { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        templates.set("en", "Subject: {nope}\n\nbody"),
        Err(ReportError::UnknownPlaceholder { .. })
    ));
    templates.set("en", "Subject: Case {case_id}\r\n\r\nLiteral {{braces}} and {found}.").unwrap();
    let n = notice::render("en", &facts(), &templates).unwrap();
    assert_eq!(n.subject, "Case 4711");
    assert_eq!(
        n.body,
        "Literal {braces} and an image that matched known child sexual abuse material."
    );
    assert!(matches!(
        notice::render("de", &facts(), &templates),
        Err(ReportError::UnknownLanguage { .. })
    ));
}

#[test]
fn a_value_cannot_break_the_subject_line() {
    let mut f = facts();
    f.service = "Evil\r\nBcc: x@example.org".into();
    let n = notice::render("en", &f, &Templates::builtin()).unwrap();
    assert!(!n.subject.contains('\n') && !n.subject.contains('\r'), "{:?}", n.subject);
}
