//! Tests of IPNS records: create, parse, validate, choose; JS vectors.

use super::*;
use crate::ipns::Name;
use std::time::UNIX_EPOCH;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn record(key: &Keypair, seq: u64, life: Duration) -> Record {
    Record::create(
        key,
        b"/ipfs/bafkqaaa",
        seq,
        now() + life,
        Duration::from_secs(300),
    )
    .unwrap()
}

fn name(key: &Keypair) -> Name {
    Name(key.public().to_peer_id())
}

#[test]
fn created_records_parse_and_validate() {
    let key = Keypair::generate_ed25519();
    let r = record(&key, 7, Duration::from_secs(3600));
    let back = Record::parse(r.to_bytes()).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.value_str().unwrap(), "/ipfs/bafkqaaa");
    assert_eq!(back.sequence, 7);
    assert_eq!(back.ttl, Duration::from_secs(300));
    assert_eq!(back.eol, now() + Duration::from_secs(3600));
    back.validate(&name(&key), now()).unwrap();
    // Ed25519 keys live in the name: no pubKey field.
    assert!(back.pub_key.is_none());
}

#[test]
fn data_is_canonical_dag_cbor() {
    let key = Keypair::generate_ed25519();
    let r = record(&key, 1, Duration::from_secs(60));
    // Keys sorted length-first, then bytewise: TTL, Value, Sequence, Validity, ValidityType.
    let mut at = Vec::new();
    for k in ["TTL", "Value", "Sequence", "Validity", "ValidityType"] {
        let pos = r
            .data
            .windows(k.len() + 1)
            .position(|w| w[0] == 0x60 + k.len() as u8 && &w[1..] == k.as_bytes());
        at.push(pos.unwrap_or_else(|| panic!("{k} missing")));
    }
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    assert_eq!(r.data[0], 0xa5, "a map of 5 entries");
}

#[test]
fn a_bad_signature_is_rejected() {
    let key = Keypair::generate_ed25519();
    let other = Keypair::generate_ed25519();
    let r = record(&key, 1, Duration::from_secs(60));
    assert!(matches!(
        r.validate(&name(&other), now()),
        Err(IpnsError::BadSignature(_))
    ));
    let mut bad = r.clone();
    let last = bad.signature_v2.len() - 1;
    bad.signature_v2[last] ^= 1;
    assert!(matches!(
        bad.validate(&name(&key), now()),
        Err(IpnsError::BadSignature(_))
    ));
}

#[test]
fn expired_records_are_rejected() {
    let key = Keypair::generate_ed25519();
    let r = record(&key, 1, Duration::from_secs(60));
    let later = now() + Duration::from_secs(61);
    let e = r.validate(&name(&key), later).unwrap_err();
    assert!(matches!(e, IpnsError::Expired { .. }), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn records_over_10_kib_are_rejected() {
    let key = Keypair::generate_ed25519();
    let value = vec![b'a'; MAX_RECORD_SIZE];
    let e = Record::create(&key, &value, 1, now(), Duration::ZERO).unwrap_err();
    assert!(matches!(e, IpnsError::TooBig { .. }), "{e}");
    assert!(e.to_string().contains("10 KiB"));
}

#[test]
fn v1_fields_must_match_the_signed_data() {
    let key = Keypair::generate_ed25519();
    let r = record(&key, 5, Duration::from_secs(60));
    // Sequence 5 is `28 05` in field 5; make it 6.
    let mut bytes = r.to_bytes().to_vec();
    let pos = bytes.windows(2).position(|w| w == [0x28, 5]).unwrap();
    bytes[pos + 1] = 6;
    assert_eq!(Record::parse(&bytes), Err(IpnsError::Mismatch("sequence")));
}

#[test]
fn missing_v2_signature_or_garbage_is_an_error() {
    let key = Keypair::generate_ed25519();
    let r = record(&key, 1, Duration::from_secs(60));
    // V1-only: fields 1..=6. (Cutting at the first 0x42 byte, field 8's
    // key, cut inside the random V1 signature in about one run of five.)
    let mut v1 = pb::IpnsRecord::decode(r.to_bytes()).unwrap();
    (v1.pub_key, v1.signature_v2, v1.data) = (None, None, None);
    assert_eq!(Record::parse(&v1.encode_to_vec()), Err(IpnsError::NoSignatureV2));
    for junk in [&b""[..], b"\xff", b"\x0a\x05ab", b"\x4a\x01\x00\x42\x00"] {
        assert!(Record::parse(junk).is_err(), "{junk:?}");
    }
}

#[test]
fn rsa_style_keys_are_embedded_and_checked() {
    // secp256k1 names hold their key too; ECDSA names do not.
    let key = Keypair::generate_ecdsa();
    let r = record(&key, 1, Duration::from_secs(60));
    assert!(r.pub_key.is_some());
    r.validate(&name(&key), now()).unwrap();
    let other = Keypair::generate_ecdsa();
    assert!(matches!(
        r.validate(&name(&other), now()),
        Err(IpnsError::WrongKey(_))
    ));
}

#[test]
fn higher_sequence_then_later_eol_is_better() {
    let key = Keypair::generate_ed25519();
    let a = record(&key, 2, Duration::from_secs(60));
    let b = record(&key, 1, Duration::from_secs(6000));
    let c = record(&key, 2, Duration::from_secs(120));
    assert!(better(&a, &b) && !better(&b, &a));
    assert!(better(&c, &a) && !better(&a, &c));
    assert!(!better(&a, &a));
}

/// Records made by the JS `ipns` package (Helia's), V2-only and V1+V2
/// (`integration/helia/ipns-vector.mjs make`).
#[test]
fn records_from_js_ipns_validate_and_our_cbor_matches_theirs() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/ipns-js.json")).unwrap();
    let hex = |s: &serde_json::Value| {
        let s = s.as_str().unwrap();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let vectors = vectors.as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    for v in vectors {
        let name = Name::parse(v["name"].as_str().unwrap()).unwrap();
        assert_eq!(name.routing_key(), hex(&v["routing_key"]));
        let r = Record::parse(&hex(&v["record"])).unwrap();
        assert_eq!(r.value_str().unwrap(), v["value"].as_str().unwrap());
        assert_eq!((r.sequence, r.ttl), (3, Duration::from_secs(300)));
        let eol = crate::ipns::time::parse_rfc3339(b"2100-01-01T00:00:00Z").unwrap();
        assert_eq!(r.eol, eol);
        r.validate(&name, eol - Duration::from_secs(1)).unwrap();
        assert!(matches!(r.validate(&name, eol), Err(IpnsError::Expired { .. })));
        // The same fields encode to their bytes: both are canonical DAG-CBOR.
        let validity = b"2100-01-01T00:00:00.000000000Z";
        assert_eq!(cbor_data(&r.value, validity, 3, 300_000_000_000).unwrap(), r.data);
        let other = Name(Keypair::generate_ed25519().public().to_peer_id());
        assert!(r.validate(&other, eol - Duration::from_secs(1)).is_err());
    }
}

/// prost writes a record byte for byte as the hand encoder it replaced
/// (every field, in field order; Ed25519 signatures are deterministic).
#[test]
fn records_are_written_as_the_hand_encoder_wrote_them() {
    use crate::wire;
    let key = Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
    let (value, eol) = (b"/ipfs/bafkqaaa", now() + Duration::from_secs(3600));
    let r = Record::create(&key, value, 9, eol, Duration::from_secs(300)).unwrap();
    let validity = time::format_rfc3339(eol).into_bytes();
    let mut out = Vec::new();
    wire::put_bytes_field(&mut out, 1, value);
    wire::put_bytes_field(&mut out, 2, &key.sign(&sig_v1_data(value, &validity)).unwrap());
    wire::put_varint_field(&mut out, 3, EOL);
    wire::put_bytes_field(&mut out, 4, &validity);
    wire::put_varint_field(&mut out, 5, 9);
    wire::put_varint_field(&mut out, 6, 300_000_000_000);
    wire::put_bytes_field(&mut out, 8, &r.signature_v2);
    wire::put_bytes_field(&mut out, 9, &r.data);
    assert_eq!(r.to_bytes(), out);
    // A known field of the wrong wire type is an error, as before.
    assert!(Record::parse(b"\x08\x01").is_err());
}
