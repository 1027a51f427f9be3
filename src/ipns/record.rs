//! One IPNS record: create (signed V1 + V2), encode, parse, validate.

use super::{IpnsError, Name, time};
use crate::peer::{Keypair, PublicKey};
use crate::wire::{self, Reader, Value};
use ipld_core::ipld::Ipld;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Records above this size are refused (the spec's limit, as boxo's).
pub const MAX_RECORD_SIZE: usize = 10 * 1024;
const SIG_V2_PREFIX: &[u8] = b"ipns-signature:";
/// The only validity type: an end of life (`EOL`) timestamp.
const EOL: u64 = 0;
/// Multihash code of the identity hash: a peer ID that holds its key.
const IDENTITY: u64 = 0;

/// A parsed (not yet validated) IPNS record. Fields are those of the
/// signed `data`; `bytes` is the record as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What the name points at, e.g. `/ipfs/bafy…`.
    pub value: Vec<u8>,
    pub sequence: u64,
    /// End of life: the record is invalid after it.
    pub eol: SystemTime,
    /// How long a resolver may cache it.
    pub ttl: Duration,
    pub_key: Option<Vec<u8>>,
    signature_v2: Vec<u8>,
    data: Vec<u8>,
    bytes: Vec<u8>,
}

fn malformed(m: impl Into<String>) -> IpnsError {
    IpnsError::Malformed(m.into())
}

/// The signed `data`: a DAG-CBOR map (keys sorted by the encoder).
fn cbor_data(value: &[u8], validity: &[u8], seq: u64, ttl_ns: u64) -> Result<Vec<u8>, IpnsError> {
    let map: BTreeMap<String, Ipld> = [
        ("Value", Ipld::Bytes(value.to_vec())),
        ("Validity", Ipld::Bytes(validity.to_vec())),
        ("ValidityType", Ipld::Integer(EOL.into())),
        ("Sequence", Ipld::Integer(seq.into())),
        ("TTL", Ipld::Integer(ttl_ns.into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    serde_ipld_dagcbor::to_vec(&Ipld::Map(map)).map_err(|e| IpnsError::Sign(e.to_string()))
}

fn sig_v1_data(value: &[u8], validity: &[u8]) -> Vec<u8> {
    [value, validity, b"EOL"].concat()
}

/// The fields of `data`, checked for type.
struct Data {
    value: Vec<u8>,
    validity: Vec<u8>,
    validity_type: u64,
    sequence: u64,
    ttl: u64,
}

fn decode_data(data: &[u8]) -> Result<Data, IpnsError> {
    let ipld: Ipld =
        serde_ipld_dagcbor::from_slice(data).map_err(|e| malformed(format!("data is not DAG-CBOR: {e}")))?;
    let Ipld::Map(mut m) = ipld else {
        return Err(malformed("data is not a map"));
    };
    let mut bytes = |k: &str| match m.remove(k) {
        Some(Ipld::Bytes(b)) => Ok(b),
        _ => Err(malformed(format!("data has no byte string {k}"))),
    };
    let (value, validity) = (bytes("Value")?, bytes("Validity")?);
    let int = |k: &str| match m.get(k) {
        Some(Ipld::Integer(i)) => {
            u64::try_from(*i).map_err(|_| malformed(format!("data's {k} is out of range")))
        }
        _ => Err(malformed(format!("data has no integer {k}"))),
    };
    Ok(Data {
        value,
        validity,
        validity_type: int("ValidityType")?,
        sequence: int("Sequence")?,
        ttl: int("TTL")?,
    })
}

/// The protobuf fields as found (V1 ones optional).
#[derive(Default)]
struct Pb<'a> {
    value: Option<&'a [u8]>,
    signature_v1: Option<&'a [u8]>,
    validity_type: Option<u64>,
    validity: Option<&'a [u8]>,
    sequence: Option<u64>,
    ttl: Option<u64>,
    pub_key: Option<&'a [u8]>,
    signature_v2: Option<&'a [u8]>,
    data: Option<&'a [u8]>,
}

fn decode_pb(bytes: &[u8]) -> Result<Pb<'_>, IpnsError> {
    let mut pb = Pb::default();
    let mut r = Reader::new(bytes);
    while let Some((field, v)) = r.field().map_err(|e: wire::Error| malformed(e.to_string()))? {
        match (field, v) {
            (1, Value::Bytes(b)) => pb.value = Some(b),
            (2, Value::Bytes(b)) => pb.signature_v1 = Some(b),
            (3, Value::Varint(v)) => pb.validity_type = Some(v),
            (4, Value::Bytes(b)) => pb.validity = Some(b),
            (5, Value::Varint(v)) => pb.sequence = Some(v),
            (6, Value::Varint(v)) => pb.ttl = Some(v),
            (7, Value::Bytes(b)) => pb.pub_key = Some(b),
            (8, Value::Bytes(b)) => pb.signature_v2 = Some(b),
            (9, Value::Bytes(b)) => pb.data = Some(b),
            (1..=9, _) => return Err(malformed(format!("field {field} has the wrong wire type"))),
            _ => {} // unknown fields are skipped, as protobuf readers do
        }
    }
    Ok(pb)
}

impl Record {
    /// A new record for `key`'s name pointing at `value`, signed with V1
    /// and V2 signatures. The public key is embedded only when the name
    /// cannot hold it (keys other than Ed25519/secp256k1), as Kubo does.
    pub fn create(
        key: &Keypair,
        value: &[u8],
        sequence: u64,
        eol: SystemTime,
        ttl: Duration,
    ) -> Result<Record, IpnsError> {
        let validity = time::format_rfc3339(eol).into_bytes();
        let ttl_ns = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        let data = cbor_data(value, &validity, sequence, ttl_ns)?;
        let sign = |m: &[u8]| key.sign(m).map_err(|e| IpnsError::Sign(e.to_string()));
        let sig_v1 = sign(&sig_v1_data(value, &validity))?;
        let sig_v2 = sign(&[SIG_V2_PREFIX, &data].concat())?;
        let pub_key = key.public();
        let embed = pub_key.to_peer_id().as_ref().code() != IDENTITY;
        let mut out = Vec::new();
        wire::put_bytes_field(&mut out, 1, value);
        wire::put_bytes_field(&mut out, 2, &sig_v1);
        wire::put_varint_field(&mut out, 3, EOL);
        wire::put_bytes_field(&mut out, 4, &validity);
        wire::put_varint_field(&mut out, 5, sequence);
        wire::put_varint_field(&mut out, 6, ttl_ns);
        if embed {
            wire::put_bytes_field(&mut out, 7, &pub_key.encode_protobuf());
        }
        wire::put_bytes_field(&mut out, 8, &sig_v2);
        wire::put_bytes_field(&mut out, 9, &data);
        Record::parse(&out)
    }

    /// Parses a record's bytes (size, protobuf, DAG-CBOR data, V1 fields
    /// agreeing with it). Signature and expiry are `validate`'s.
    pub fn parse(bytes: &[u8]) -> Result<Record, IpnsError> {
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(IpnsError::TooBig { size: bytes.len() });
        }
        let pb = decode_pb(bytes)?;
        let (Some(signature_v2), Some(data)) = (pb.signature_v2, pb.data) else {
            return Err(IpnsError::NoSignatureV2);
        };
        let d = decode_data(data)?;
        if d.validity_type != EOL {
            return Err(malformed(format!("unknown validity type {}", d.validity_type)));
        }
        // V1 fields, when present, must say what the signed data says
        // (boxo's validateCborDataMatchesPbData).
        if pb.value.is_some_and(|v| v != d.value) {
            return Err(IpnsError::Mismatch("value"));
        }
        if pb.validity.is_some_and(|v| v != d.validity) {
            return Err(IpnsError::Mismatch("validity"));
        }
        if pb.validity_type.is_some_and(|v| v != d.validity_type) {
            return Err(IpnsError::Mismatch("validity type"));
        }
        if pb.sequence.is_some_and(|v| v != d.sequence) {
            return Err(IpnsError::Mismatch("sequence"));
        }
        if pb.ttl.is_some_and(|v| v != d.ttl) {
            return Err(IpnsError::Mismatch("TTL"));
        }
        let _ = pb.signature_v1; // V1 signatures are not checked (V2 is required), as in boxo
        let eol =
            time::parse_rfc3339(&d.validity).ok_or_else(|| malformed("validity is not an RFC 3339 time"))?;
        Ok(Record {
            value: d.value,
            sequence: d.sequence,
            eol,
            ttl: Duration::from_nanos(d.ttl),
            pub_key: pb.pub_key.map(<[u8]>::to_vec),
            signature_v2: signature_v2.to_vec(),
            data: data.to_vec(),
            bytes: bytes.to_vec(),
        })
    }

    /// The record as it travels (protobuf).
    pub fn to_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The value as text (`/ipfs/…`, `/ipns/…`), if it is UTF-8.
    pub fn value_str(&self) -> Result<&str, IpnsError> {
        std::str::from_utf8(&self.value).map_err(|_| malformed("value is not UTF-8"))
    }

    /// The public key that must have signed it: the embedded one (which
    /// must hash to the name), else the one the name holds.
    fn public_key(&self, name: &Name) -> Result<PublicKey, IpnsError> {
        let wrong = || IpnsError::WrongKey(name.to_string());
        if let Some(pk) = &self.pub_key {
            let pk =
                PublicKey::try_decode_protobuf(pk).map_err(|_| malformed("pubKey is not a public key"))?;
            return if pk.to_peer_id() == name.0 {
                Ok(pk)
            } else {
                Err(wrong())
            };
        }
        let mh = name.0.as_ref();
        if mh.code() != IDENTITY {
            return Err(malformed("pubKey missing, and the name does not hold the key"));
        }
        PublicKey::try_decode_protobuf(mh.digest()).map_err(|_| wrong())
    }

    /// Whether this is a valid record of `name` at `now`: key, V2
    /// signature, end of life.
    pub fn validate(&self, name: &Name, now: SystemTime) -> Result<(), IpnsError> {
        let pk = self.public_key(name)?;
        if !pk.verify(&[SIG_V2_PREFIX, &self.data].concat(), &self.signature_v2) {
            return Err(IpnsError::BadSignature(name.to_string()));
        }
        if self.eol <= now {
            return Err(IpnsError::Expired {
                name: name.to_string(),
                eol: time::format_rfc3339(self.eol),
            });
        }
        Ok(())
    }
}

/// Whether `a` is better than `b` (boxo's Compare): higher sequence, then
/// later end of life.
pub fn better(a: &Record, b: &Record) -> bool {
    (a.sequence, a.eol) > (b.sequence, b.eol)
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
