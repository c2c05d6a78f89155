//! How values are written to Redis.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The encoding of values in Redis.
///
/// * [`Codec::Json`] (the default): serde_json, readable with `redis-cli`
///   (`GET <row key>` shows the row's short header, then the JSON), and what entelix's own Redis store writes.
/// * [`Codec::MessagePack`]: `rmp-serde`, with struct fields by name. It is
///   compact (no quotes, binary numbers, length-prefixed strings) and, unlike
///   postcard or bincode, self-describing, so values that deserialize through
///   `deserialize_any` (`serde_json::Value`, untagged enums, the JSON-shaped
///   payloads agents store most) round-trip; fields by name keep rows
///   readable after a struct gains or reorders fields.
///
/// A store reads only what its own codec wrote: a row in the other encoding
/// is reported as undecodable, naming its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// serde_json (default).
    #[default]
    Json,
    /// MessagePack (`rmp-serde`, fields by name).
    MessagePack,
}

impl Codec {
    /// The codec's name, for messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::MessagePack => "messagepack",
        }
    }

    #[cfg(test)]
    pub(crate) fn encode<V: Serialize>(self, value: &V) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Appends the encoding of `value` to `out` (after a row's header).
    pub(crate) fn encode_into<V: Serialize>(
        self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        match self {
            Self::Json => serde_json::to_writer(out, value).map_err(|e| e.to_string()),
            Self::MessagePack => {
                rmp_serde::encode::write_named(out, value).map_err(|e| e.to_string())
            }
        }
    }

    pub(crate) fn decode<V: DeserializeOwned>(self, bytes: &[u8]) -> Result<V, String> {
        match self {
            Self::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Self::MessagePack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_codecs_round_trip_self_describing_values() {
        let value = serde_json::json!({"a": [1, "x", null, {"b": 2.5}], "c": true});
        for codec in [Codec::Json, Codec::MessagePack] {
            let bytes = codec.encode(&value).unwrap();
            assert_eq!(codec.decode::<serde_json::Value>(&bytes).unwrap(), value);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [Codec::Json, Codec::MessagePack] {
            assert!(codec.decode::<String>(b"\xc1\xff{").is_err());
        }
    }
}
