//! FAPI request bodies: `application/x-www-form-urlencoded`, as clerk-js sends them.
//!
//! Decoding is strict where a lenient parser would guess: invalid UTF-8 after
//! percent-decoding and a field given twice are refused, not silently repaired.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use futures_util::StreamExt;

use crate::MAX_BODY_BYTES;

/// How much of an oversized body is read (and thrown away) before answering 413.
const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;
use percent_encoding::percent_decode;

use latch_flows::Refusal;

use crate::error::ApiError;

#[derive(Debug, Default, Clone)]
pub struct FormFields {
    fields: Vec<(String, String)>,
}

impl FormFields {
    pub fn parse_urlencoded(body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = Vec::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let key = decode_component(key)?;
            let value = decode_component(value)?;
            fields.push((key, value));
        }
        Ok(FormFields { fields })
    }

    fn parse_json(body: &[u8]) -> Result<Self, ApiError> {
        let JsonPairs(pairs) = serde_json::from_slice(body)
            .map_err(|e| invalid("body", format!("The request body is not a JSON object: {e}")))?;
        let fields = pairs
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                serde_json::Value::Null => (k, String::new()),
                other => (k, other.to_string()),
            })
            .collect();
        Ok(FormFields { fields })
    }

    /// The value of `name`, if sent once; an error if sent more than once.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut found = self.fields.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.as_str());
        if found.next().is_some() {
            return Err(invalid(name, format!("{name} was sent more than once.")));
        }
        Ok(first)
    }

    /// The value of `name`, which must be present and not blank.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name)? {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(Refusal::ParamMissing(name.to_string()).into()),
        }
    }

    /// `strategy` must be `passkey` when present (the only first factor Latch offers).
    pub fn passkey_strategy(&self, required: bool) -> Result<bool, ApiError> {
        match self.get("strategy")? {
            None | Some("") if !required => Ok(false),
            None | Some("") => Err(Refusal::ParamMissing("strategy".into()).into()),
            Some("passkey") => Ok(true),
            Some(other) => Err(invalid(
                "strategy",
                format!("The strategy {other:?} is not supported; Latch signs in with passkeys only."),
            )),
        }
    }
}

/// A JSON object's members in order, duplicates kept: `serde_json`'s `Map` keeps the last of
/// a repeated key silently, where a form body's repeated field is refused ([`FormFields::get`]
/// refuses both alike).
struct JsonPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(JsonPairs(pairs))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid("body", "The request body is not valid UTF-8."))
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let _ = state;
        let body = read_limited(req.into_body()).await?;
        if is_json {
            FormFields::parse_json(&body)
        } else {
            FormFields::parse_urlencoded(&body)
        }
    }
}

/// Reads at most [`MAX_BODY_BYTES`]. A larger body is refused with 413 — after reading and
/// discarding up to [`DRAIN_LIMIT_BYTES`] of it, so that an ordinary HTTP client, still
/// sending, gets to read the answer instead of a reset connection.
async fn read_limited(body: Body) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| invalid("body", "The request body could not be read."))?;
        seen += chunk.len();
        if seen > DRAIN_LIMIT_BYTES {
            break;
        }
        if seen <= MAX_BODY_BYTES {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(body_too_large());
    }
    Ok(Bytes::from(buf))
}

fn body_too_large() -> ApiError {
    Refusal::BodyTooLarge.into()
}

fn invalid(param: &str, why: impl Into<String>) -> ApiError {
    Refusal::ParamInvalid { param: param.to_string(), why: why.into() }.into()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_clerk_js_sends() {
        let f = FormFields::parse_urlencoded(b"strategy=passkey&public_key_credential=%7B%22id%22%3A%22a%2Bb%22%7D&name=My+key").unwrap();
        assert_eq!(f.get("strategy").unwrap(), Some("passkey"));
        assert_eq!(f.get("public_key_credential").unwrap(), Some("{\"id\":\"a+b\"}"));
        assert_eq!(f.get("name").unwrap(), Some("My key"));
        assert_eq!(f.get("absent").unwrap(), None);
    }

    #[test]
    fn refuses_duplicates_and_bad_utf8() {
        let f = FormFields::parse_urlencoded(b"name=a&name=b").unwrap();
        assert_eq!(f.get("name").unwrap_err().clerk().code, "form_param_format_invalid");
        assert!(FormFields::parse_urlencoded(b"name=%FF%FE").is_err());
    }

    #[test]
    fn json_bodies_refuse_duplicate_keys_like_forms() {
        let f = FormFields::parse_json(br#"{"name":"a","name":"b","other":1}"#).unwrap();
        assert_eq!(f.get("name").unwrap_err().clerk().code, "form_param_format_invalid");
        assert_eq!(f.get("other").unwrap(), Some("1"));
        assert!(FormFields::parse_json(b"[1]").is_err());
    }

    #[test]
    fn blank_required_fields_are_missing() {
        let f = FormFields::parse_urlencoded(b"name=+++").unwrap();
        assert_eq!(f.require("name").unwrap_err().clerk().code, "form_param_missing");
    }
}
