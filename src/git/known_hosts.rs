//! OpenSSH `known_hosts` checking for SSH remotes: host patterns (`*`, `?`, `!negation`,
//! `[host]:port`), hashed host names (`|1|salt|hmac`), `@revoked` keys. An unknown host is
//! refused, never silently accepted. Pure functions over the file's text.
//!
//! Written here because libgit2 only checks `~/.ssh/known_hosts` (by `$HOME`), and the crates
//! that parse the format do not match host patterns.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// What the file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A line lists this very key for the host.
    Known,
    /// The key is marked `@revoked` (on this 1-based line).
    Revoked(usize),
    /// The host is listed with a different key of the same type (on these lines): possibly a
    /// man-in-the-middle, or the host's key changed.
    Mismatch(Vec<usize>),
    /// No line lists a key of this type for the host; the types it does list, if any.
    Unknown(Vec<String>),
}

/// Checks `key` (the SSH wire-format public key blob the server presented) for `host`:`port`.
pub(crate) fn check(text: &str, host: &str, port: u16, key: &[u8]) -> Verdict {
    let name = host_entry_name(host, port);
    let key_type = blob_key_type(key).unwrap_or_default();
    let mut known_types = Vec::new();
    let mut mismatched = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(entry) = Entry::parse(line) else {
            continue;
        };
        if !entry.host_matches(&name) {
            continue;
        }
        let same_key = entry.key.as_deref() == Some(key);
        match entry.marker {
            Some(Marker::Revoked) if same_key => return Verdict::Revoked(index + 1),
            Some(_) => continue,
            None => {}
        }
        if same_key {
            return Verdict::Known;
        }
        if entry.key_type == key_type {
            mismatched.push(index + 1);
        } else if !known_types.contains(&entry.key_type.to_string()) {
            known_types.push(entry.key_type.to_string());
        }
    }
    if mismatched.is_empty() {
        Verdict::Unknown(known_types)
    } else {
        Verdict::Mismatch(mismatched)
    }
}

/// How OpenSSH names a host in known_hosts: the bare name on port 22, else `[host]:port`.
pub(crate) fn host_entry_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// The key type named at the start of a public key blob (`ssh-ed25519`, …).
pub(crate) fn blob_key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4 + len)?).ok()
}

/// OpenSSH's fingerprint of a key: `SHA256:` and the unpadded base64 of the SHA-256 digest.
pub(crate) fn fingerprint(sha256: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(sha256))
}

#[derive(Debug, PartialEq, Eq)]
enum Marker {
    Revoked,
    CertAuthority,
}

struct Entry<'a> {
    marker: Option<Marker>,
    hosts: &'a str,
    key_type: &'a str,
    key: Option<Vec<u8>>,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        let marker = match first {
            "@revoked" => Some(Marker::Revoked),
            "@cert-authority" => Some(Marker::CertAuthority),
            m if m.starts_with('@') => return None,
            _ => None,
        };
        if marker.is_some() {
            first = fields.next()?;
        }
        let key_type = fields.next()?;
        let key = fields.next().and_then(|k| STANDARD.decode(k).ok());
        Some(Self {
            marker,
            hosts: first,
            key_type,
            key,
        })
    }

    fn host_matches(&self, name: &str) -> bool {
        if let Some(hashed) = self.hosts.strip_prefix("|1|") {
            return hashed_matches(hashed, name);
        }
        let mut matched = false;
        for pattern in self.hosts.split(',') {
            match pattern.strip_prefix('!') {
                Some(negated) if wildcard(&negated.to_ascii_lowercase(), name) => return false,
                Some(_) => {}
                None => matched |= wildcard(&pattern.to_ascii_lowercase(), name),
            }
        }
        matched
    }
}

/// `|1|<base64 salt>|<base64 HMAC-SHA1(salt, name)>`, after the `|1|`.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// OpenSSH's pattern match: `*` any run, `?` one character, everything else literal.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire-format blob: string type, then some key bytes.
    fn blob(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (kind.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn line(hosts: &str, key: &[u8]) -> String {
        let kind = blob_key_type(key).expect("type");
        format!("{hosts} {kind} {} comment\n", STANDARD.encode(key))
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).expect("hmac");
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn entries_match_hosts_ports_patterns_and_hashes() {
        let ed = blob("ssh-ed25519", b"server-key");
        let cases: &[(&str, &str, u16, Verdict)] = &[
            ("git.lan", "git.lan", 22, Verdict::Known),
            ("GIT.lan", "git.LAN", 22, Verdict::Known),
            ("other,git.lan", "git.lan", 22, Verdict::Known),
            ("git.lan", "git.lan", 2222, Verdict::Unknown(vec![])),
            ("[git.lan]:2222", "git.lan", 2222, Verdict::Known),
            ("[127.0.0.1]:2222", "127.0.0.1", 2222, Verdict::Known),
            ("*.lan", "git.lan", 22, Verdict::Known),
            ("g?t.lan", "git.lan", 22, Verdict::Known),
            ("*.lan,!git.lan", "git.lan", 22, Verdict::Unknown(vec![])),
            ("*.lan", "lan", 22, Verdict::Unknown(vec![])),
            ("git.lan.evil", "git.lan", 22, Verdict::Unknown(vec![])),
        ];
        for (hosts, host, port, want) in cases {
            let text = line(hosts, &ed);
            assert_eq!(
                check(&text, host, *port, &ed),
                *want,
                "{hosts} vs {host}:{port}"
            );
        }
        let text = line(&hashed("[127.0.0.1]:2222", b"0123456789abcdefghij"), &ed);
        assert_eq!(check(&text, "127.0.0.1", 2222, &ed), Verdict::Known);
        assert_eq!(
            check(&text, "127.0.0.1", 2223, &ed),
            Verdict::Unknown(vec![])
        );
    }

    #[test]
    fn a_different_key_is_a_mismatch_and_other_types_are_named() {
        let presented = blob("ssh-ed25519", b"attacker");
        let text = format!(
            "# comment\n\n{}{}",
            line("git.lan", &blob("ssh-rsa", b"rsa-key")),
            line("git.lan", &blob("ssh-ed25519", b"real-key"))
        );
        assert_eq!(
            check(&text, "git.lan", 22, &presented),
            Verdict::Mismatch(vec![4])
        );
        let only_rsa = line("git.lan", &blob("ssh-rsa", b"rsa-key"));
        assert_eq!(
            check(&only_rsa, "git.lan", 22, &presented),
            Verdict::Unknown(vec!["ssh-rsa".into()])
        );
    }

    #[test]
    fn revoked_keys_and_cert_authorities() {
        let key = blob("ssh-ed25519", b"k");
        let text = format!("@revoked {}{}", line("*", &key), line("git.lan", &key));
        assert_eq!(check(&text, "git.lan", 22, &key), Verdict::Revoked(1));
        // A CA line is not a host key: the host stays unknown.
        let ca = format!("@cert-authority {}", line("*.lan", &key));
        assert_eq!(check(&ca, "git.lan", 22, &key), Verdict::Unknown(vec![]));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let key = blob("ssh-ed25519", b"k");
        let text = format!(
            "@bogus x y z\nonlyhost\nhost type !!notbase64\n{}",
            line("h", &key)
        );
        assert_eq!(check(&text, "h", 22, &key), Verdict::Known);
    }

    #[test]
    fn fingerprints_look_like_openssh() {
        assert_eq!(
            fingerprint(&[0u8; 32]),
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
    }
}
