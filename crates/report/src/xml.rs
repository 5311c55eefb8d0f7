//! A small XML writer for NCMEC's documents: elements in the order they are written, two-space
//! indentation between elements (never inside text), every text checked and escaped.

use crate::ReportError;

/// The attributes NCMEC's own examples put on a document's root element.
const ROOT_ATTRS: &str = r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://report.cybertip.org/ispws/xsd""#;

pub(crate) struct Writer {
    out: String,
    open: Vec<&'static str>,
}

impl Writer {
    /// A document whose root element is `root`.
    pub(crate) fn new(root: &'static str) -> Self {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push('<');
        out.push_str(root);
        out.push_str(ROOT_ATTRS);
        out.push_str(">\n");
        Writer { out, open: vec![root] }
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    /// Opens an element that holds elements.
    pub(crate) fn open(&mut self, name: &'static str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    /// Closes the innermost open element.
    pub(crate) fn close(&mut self) {
        let name = self.open.pop().expect("close matches an open");
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// An element holding `text` (checked by the caller with [`check`]), with `attrs` whose
    /// values are fixed by Spoor.
    pub(crate) fn leaf_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// An element holding `text`.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    /// The finished document.
    pub(crate) fn finish(mut self) -> String {
        while self.open.len() > 1 {
            self.close();
        }
        let root = self.open.pop().expect("the root is open");
        self.out.push_str("</");
        self.out.push_str(root);
        self.out.push_str(">\n");
        self.out
    }
}

/// Escapes the five XML special characters, and carriage returns and tabs (which a reader would
/// otherwise normalise away), so that a reader gets `s` back exactly.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// Checks that `s` can be carried in an XML 1.0 document and is at most `max` characters.
pub(crate) fn check(field: &str, s: &str, max: Option<usize>) -> Result<(), ReportError> {
    if let Some(c) = s.chars().find(|&c| !is_xml_char(c)) {
        return Err(ReportError::Unrepresentable { field: field.to_string(), code: u32::from(c) });
    }
    if let Some(max) = max {
        let len = s.chars().count();
        if len > max {
            return Err(ReportError::TooLong { field: field.to_string(), len, max });
        }
    }
    Ok(())
}

/// XML 1.0's `Char` production (Rust strings hold no surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_back_exactly() {
        let text = "a<b>&\"c'\r\n\td é 😀";
        let mut w = Writer::new("fileDetails");
        w.leaf("x", text);
        let doc = w.finish();
        let parsed = roxmltree::Document::parse(&doc).unwrap();
        let x = parsed.root_element().first_element_child().unwrap();
        assert_eq!(x.text(), Some(text));
    }

    #[test]
    fn controls_and_lengths_are_refused() {
        assert!(matches!(
            check("f", "a\u{0}b", None),
            Err(ReportError::Unrepresentable { code: 0, .. })
        ));
        assert!(matches!(
            check("f", "\u{FFFE}", None),
            Err(ReportError::Unrepresentable { code: 0xFFFE, .. })
        ));
        assert!(matches!(
            check("f", "\u{1B}[31m", None),
            Err(ReportError::Unrepresentable { code: 0x1B, .. })
        ));
        check("f", "ééé", Some(3)).unwrap();
        assert!(matches!(
            check("f", "éééé", Some(3)),
            Err(ReportError::TooLong { len: 4, max: 3, .. })
        ));
    }
}
