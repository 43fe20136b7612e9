//! Just enough DER (X.690) to read a certificate's validity end and pick out the parts that
//! say whose CA it is, without an X.509 parser dependency.

/// One TLV: (tag, contents, rest).
fn read_tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const VERSION_TAG: u8 = 0xA0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The notAfter of an X.509 certificate (RFC 5280 section 4.1.2.5) as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn not_after(cert_der: &[u8]) -> Option<String> {
    let (tag, cert, _) = read_tlv(cert_der)?;
    (tag == SEQUENCE).then_some(())?;
    let (tag, tbs, _) = read_tlv(cert)?;
    (tag == SEQUENCE).then_some(())?;
    let mut fields = tbs;
    let (tag, _, rest) = read_tlv(fields)?;
    if tag == VERSION_TAG {
        fields = rest;
    }
    // serialNumber, signature, issuer, then validity.
    for _ in 0..3 {
        fields = read_tlv(fields)?.2;
    }
    let (tag, validity, _) = read_tlv(fields)?;
    (tag == SEQUENCE).then_some(())?;
    let (_, _, rest) = read_tlv(validity)?;
    let (tag, time, _) = read_tlv(rest)?;
    // Times are ASCII digits and 'Z'; anything else (multi-byte UTF-8 included, which would
    // make the slicing below split a character) is not a time.
    if !time.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(time).ok()?;
    let full = match tag {
        // RFC 5280: two-digit years 50-99 are 19xx, 00-49 are 20xx.
        UTC_TIME if text.len() == 13 => {
            let yy: u32 = text[..2].parse().ok()?;
            format!("{}{}", if yy >= 50 { 19 } else { 20 }, text)
        }
        GENERALIZED_TIME if text.len() == 15 => text.to_owned(),
        _ => return None,
    };
    let d = full.as_bytes();
    if !d[..14].iter().all(u8::is_ascii_digit) || d[14] != b'Z' {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        &full[..4],
        &full[4..6],
        &full[6..8],
        &full[8..10],
        &full[10..12],
        &full[12..14]
    ))
}

/// The parts of a certificate (RFC 5280 section 4.1) that make a CA what it is: the subject,
/// the public key (SubjectPublicKeyInfo) and the extensions, each as its whole DER encoding.
#[derive(Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `subject`.
    pub subject: &'a [u8],
    /// `subjectPublicKeyInfo`.
    pub public_key: &'a [u8],
    /// `[3] extensions` (empty when absent).
    pub extensions: &'a [u8],
}

/// Reads the [`Identity`] of a DER certificate; `None` when it is not a well-formed one.
pub fn identity(cert_der: &[u8]) -> Option<Identity<'_>> {
    let (tag, cert, _) = read_tlv(cert_der)?;
    (tag == SEQUENCE).then_some(())?;
    let (tag, tbs, _) = read_tlv(cert)?;
    (tag == SEQUENCE).then_some(())?;
    let mut fields = Vec::new();
    let mut rest = tbs;
    while !rest.is_empty() {
        let (tag, _, after) = read_tlv(rest)?;
        fields.push((tag, &rest[..rest.len() - after.len()]));
        rest = after;
    }
    let start = usize::from(fields.first()?.0 == VERSION_TAG);
    // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo.
    let subject = fields.get(start + 4)?.1;
    let public_key = fields.get(start + 5)?.1;
    let extensions = fields
        .iter()
        .find(|(tag, _)| *tag == 0xA3)
        .map_or(&[][..], |(_, bytes)| *bytes);
    Some(Identity {
        subject,
        public_key,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_with_multibyte_text_is_not_a_time() {
        // Found by the host_header fuzz target: a UTCTime holding UTF-8 'Ճ' panicked on slicing.
        let input: &[u8] = &[
            48, 51, 48, 48, 48, 7, 0, 0, 52, 0, 0, 0, 0, 0, 0, 0, 0, 48, 33, 0, 4, 213, 131, 1, 8,
            23, 13, 4, 213, 131, 1, 8, 23, 13, 23, 23, 47, 91, 23, 23, 23, 23, 36, 0, 0, 0, 0, 0,
            0, 0, 0, 46, 23, 23, 47, 91, 23, 23, 23, 23, 36, 0, 0, 0, 0, 0, 0, 0, 0, 46, 23, 23,
            23, 23, 23, 0, 0, 6,
        ];
        assert_eq!(not_after(input), None);
    }

    #[test]
    fn reads_not_after_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 7, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()).as_deref(),
            Some("2031-07-04T00:00:00Z")
        );
        let mut far = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        far.not_after = rcgen::date_time_ymd(2077, 1, 2);
        let cert = far.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()).as_deref(),
            Some("2077-01-02T00:00:00Z")
        );
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x02, 0x30, 0x10],
        ] {
            assert_eq!(not_after(bad), None);
        }
    }
}
