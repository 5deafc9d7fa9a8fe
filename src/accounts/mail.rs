//! Outgoing mail, written as RFC 5322 `.eml` files into an outbox directory.
//!
//! There is no SMTP server where tenantd runs; a file per message is what a relay (or a
//! person in development) picks up. Any mail client opens the files.
//!
//! # Guarantees
//! - A message is a complete RFC 5322 text: `From`, `To`, `Subject`, `Date`, `Message-ID`,
//!   MIME headers for UTF-8 plain text, CRLF line ends, and a body without bare CR or LF.
//! - No header can be injected: header values with CR, LF or other control characters are
//!   refused ([`Error::HeaderValue`]) before anything is written.
//! - A message appears in the outbox whole or not at all: it is written under a temporary
//!   name and renamed (atomic within one filesystem), so a reader never sees half a file.
//!
//! # Caveats
//! - Nothing is delivered by tenantd itself; the outbox grows until something empties it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mail header {name} contains a line break or control character")]
    HeaderValue { name: &'static str },
    #[error("cannot write to the mail outbox {dir}: {source}")]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `Name <address>` or a bare address.
    pub from: String,
    pub to: String,
    pub subject: String,
    /// Plain text; any line ends (LF or CRLF) become CRLF.
    pub body: String,
}

impl Mail {
    /// The message as RFC 5322 text, dated `date`, with `message_id` (`<id@domain>`).
    pub fn to_eml(&self, date: DateTime<Utc>, message_id: &str) -> Result<String> {
        let mut out = String::new();
        for (name, value) in [
            ("From", self.from.as_str()),
            ("To", self.to.as_str()),
            ("Subject", self.subject.as_str()),
            ("Message-ID", message_id),
        ] {
            if value.chars().any(char::is_control) {
                return Err(Error::HeaderValue { name });
            }
            out.push_str(name);
            out.push_str(": ");
            if name == "Subject" && !value.is_ascii() {
                out.push_str(&encoded_word(value));
            } else {
                out.push_str(value);
            }
            out.push_str("\r\n");
        }
        out.push_str(&format!("Date: {}\r\n", date.to_rfc2822()));
        out.push_str("MIME-Version: 1.0\r\n");
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        out.push_str("Content-Transfer-Encoding: 8bit\r\n");
        out.push_str("\r\n");
        for line in self
            .body
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .split('\n')
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
        Ok(out)
    }
}

/// An RFC 2047 "Q" encoded word (`=?utf-8?Q?…?=`) for a non-ASCII header value: letters
/// and digits stay, a space becomes `_`, every other byte `=XX`.
fn encoded_word(value: &str) -> String {
    let mut out = String::from("=?utf-8?Q?");
    for byte in value.bytes() {
        match byte {
            b' ' => out.push('_'),
            b if b.is_ascii_alphanumeric() => out.push(b as char),
            b => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// The directory messages are written to, one `.eml` file each.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>) -> Outbox {
        Outbox { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `mail` as `<dir>/<time>-<id>.eml` (creating the directory) and returns the path.
    ///
    /// # Errors
    /// [`Error::HeaderValue`] (nothing written), [`Error::Write`].
    pub async fn send(&self, mail: &Mail, domain: &str) -> Result<PathBuf> {
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let text = mail.to_eml(now, &format!("<{id}@{domain}>"))?;
        let name = format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S%.3fZ"));
        let path = self.dir.join(&name);
        let partial = self.dir.join(format!(".{name}.partial"));
        let write = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&partial, text.as_bytes()).await?;
            tokio::fs::rename(&partial, &path).await
        };
        write.await.map_err(|source| Error::Write {
            dir: self.dir.clone(),
            source,
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            from: "tenantd <no-reply@tenants.example.org>".into(),
            to: "ada@example.org".into(),
            subject: "Verify your email".into(),
            body: "Hello,\n\nopen https://example.org/verify-email?token=abc\n".into(),
        }
    }

    #[test]
    fn a_message_has_the_rfc_5322_headers_and_crlf_line_ends() {
        let date = DateTime::parse_from_rfc3339("2026-12-02T15:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let eml = mail().to_eml(date, "<1@tenants.example.org>").unwrap();
        let (head, body) = eml
            .split_once("\r\n\r\n")
            .expect("a blank line ends the header");
        assert_eq!(
            head,
            "From: tenantd <no-reply@tenants.example.org>\r\n\
             To: ada@example.org\r\n\
             Subject: Verify your email\r\n\
             Message-ID: <1@tenants.example.org>\r\n\
             Date: Wed, 2 Dec 2026 15:04:05 +0000\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit"
        );
        assert_eq!(
            body,
            "Hello,\r\n\r\nopen https://example.org/verify-email?token=abc\r\n\r\n"
        );
        assert!(
            !eml.replace("\r\n", "").contains(['\r', '\n']),
            "no bare CR or LF anywhere"
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let bad = Mail {
            subject: "Hi\r\nBcc: everyone@example.org".into(),
            ..mail()
        };
        assert!(matches!(
            bad.to_eml(Utc::now(), "<1@x>"),
            Err(Error::HeaderValue { name: "Subject" })
        ));
        let bad = Mail {
            to: "a@b.org\nX: y".into(),
            ..mail()
        };
        assert!(matches!(
            bad.to_eml(Utc::now(), "<1@x>"),
            Err(Error::HeaderValue { name: "To" })
        ));
    }

    #[test]
    fn a_non_ascii_subject_is_an_encoded_word() {
        let eml = Mail {
            subject: "Bestätigen Sie".into(),
            ..mail()
        }
        .to_eml(Utc::now(), "<1@x>")
        .unwrap();
        assert!(
            eml.contains("Subject: =?utf-8?Q?Best=C3=A4tigen_Sie?=\r\n"),
            "{eml}"
        );
    }

    #[tokio::test]
    async fn the_outbox_writes_one_whole_eml_file_per_message() {
        let dir = std::env::temp_dir().join(format!("tenantd-outbox-{}", uuid::Uuid::new_v4()));
        let outbox = Outbox::new(dir.join("nested"));
        let path = outbox.send(&mail(), "tenants.example.org").await.unwrap();
        assert_eq!(path.extension().unwrap(), "eml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("From: tenantd <no-reply@tenants.example.org>\r\n"));
        assert!(
            text.contains("@tenants.example.org>\r\n"),
            "message id domain"
        );
        let names: Vec<_> = std::fs::read_dir(dir.join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no partial file is left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
