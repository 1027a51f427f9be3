//! Bitswap's encoding checked against bytes written by the hand encoder it
//! replaced, and a benchmark (`cargo test --release --lib bitswap_bench --
//! --ignored --nocapture`).

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every field the encoder writes: wants of each kind, full, blocks of
/// both CID versions, presences of both kinds.
fn sample() -> Message {
    let cid = crate::block::cid_v1(crate::block::RAW, b"hello");
    let v0 = crate::block::cid_v0(b"x");
    let want = |cancel, want_have, send_dont_have| Want {
        cid: cid.to_bytes(),
        cancel,
        want_have,
        send_dont_have,
    };
    Message {
        wants: vec![
            want(false, false, false),
            want(true, false, false),
            want(false, true, true),
        ],
        full: true,
        blocks: vec![
            (cid, Bytes::from_static(b"hello")),
            (v0, Bytes::from_static(b"x")),
        ],
        presences: vec![(cid.to_bytes(), false), (v0.to_bytes(), true)],
    }
}

/// `sample()` as the hand encoder wrote it (before prost).
const OLD_SAMPLE: &str = "0a86010a280a24015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982410010a2a0a24015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824100118010a2c0a24015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982410012001280110011a0d0a0401551220120568656c6c6f1a090a040070122012017822280a24015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824100122260a2212202d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a48811000";

#[test]
fn bytes_of_the_hand_encoder_decode_the_same() {
    assert_eq!(
        Message::decode(&Bytes::from(unhex(OLD_SAMPLE))).unwrap(),
        sample()
    );
    let again = sample().encode();
    assert_eq!(Message::decode(&Bytes::from(again)).unwrap(), sample());
}

/// prost writes what the hand encoder wrote, except a HAVE presence's
/// type: 0 is proto3's default, so it is left out (readers take it as HAVE).
#[test]
fn same_bytes_as_the_hand_encoder_but_for_have() {
    let old = unhex(OLD_SAMPLE);
    let n = old.len();
    // The last field: 22 26 (0a 22 <34-byte CID>) 10 00.
    assert_eq!(&old[n - 40..n - 36], [0x22, 0x26, 0x0a, 0x22]);
    let expected = [&old[..n - 40], &[0x22, 0x24], &old[n - 38..n - 2]].concat();
    assert_eq!(sample().encode(), expected);
}

#[test]
fn received_blocks_share_the_message_buffer() {
    let buf = Bytes::from(sample().encode());
    let m = Message::decode(&buf).unwrap();
    let range = buf.as_ptr_range();
    for (_, data) in &m.blocks {
        assert!(
            range.contains(&data.as_ptr()),
            "a block was copied out of the message"
        );
    }
}

#[test]
fn a_block_without_data_is_the_empty_block() {
    // Go leaves out empty bytes fields: payload { prefix } alone.
    let cid = crate::block::cid_v1(crate::block::RAW, b"");
    let pre = prefix(&cid);
    let mut b = vec![0x1a, pre.len() as u8 + 2, 0x0a, pre.len() as u8];
    b.extend_from_slice(&pre);
    let m = Message::decode(&Bytes::from(b)).unwrap();
    assert_eq!(m.blocks, [(cid, Bytes::new())]);
}

#[test]
fn malformed_messages_are_errors() {
    let bad: [&[u8]; 5] = [
        // The wantlist as a varint.
        &[0x08, 0x01],
        // A length past the end.
        &[0x0a, 0x05, 0x0a],
        // A varint that never ends.
        &[0x28, 0xff, 0xff],
        // A block prefix that is no CID prefix.
        &[0x1a, 0x04, 0x0a, 0x02, 0x07, 0x07],
        // Field number 0.
        &[0x02, 0x00],
    ];
    for b in bad {
        assert!(Message::decode(&Bytes::copy_from_slice(b)).is_err(), "{b:02x?}");
    }
}

fn timed(what: &str, n: u32, mut f: impl FnMut()) {
    let t = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    println!("{what}: {:?} per message", t.elapsed() / n);
}

/// Encode (framed, as sent) and decode of 64 blocks of 256 KiB, and of a
/// wantlist of 1000 entries.
#[test]
#[ignore]
fn bitswap_bench() {
    let blocks: Vec<(Cid, Bytes)> = (0..64u32)
        .map(|i| {
            let data = Bytes::from(vec![i as u8; 256 << 10]);
            (crate::block::cid_v1(crate::block::RAW, &data), data)
        })
        .collect();
    let big = Message {
        blocks,
        ..Default::default()
    };
    let wants = Message {
        wants: (0..1000u32)
            .map(|i| Want {
                cid: crate::block::cid_v1(crate::block::RAW, &i.to_le_bytes()).to_bytes(),
                want_have: i % 2 == 0,
                send_dont_have: true,
                cancel: false,
            })
            .collect(),
        full: true,
        ..Default::default()
    };
    for (name, m, n) in [("64 x 256 KiB blocks", &big, 50), ("1000 wants", &wants, 2000)] {
        let f = frame(m);
        timed(&format!("{name}: encode ({} bytes)", f.len()), n, || {
            std::hint::black_box(frame(m));
        });
        let body = Bytes::from(m.encode());
        // The blocks' hashing dominates a decode; time the parse apart.
        timed(&format!("{name}: decode"), n, || {
            std::hint::black_box(Message::decode(&body).unwrap());
        });
    }
}
