// IPNS records made and checked by the JS `ipns` package (what Helia uses):
//   node ipns-vector.mjs make VALUE [v1] → JSON {name, record} (hex), from a fresh Ed25519 key (v1: with V1 fields)
//   node ipns-vector.mjs check NAME HEX → validates a record of NAME (k51…) given in hex; exit 1 if invalid
// tests/vectors/ipns-js.json was made with `make`; integration/scenarios/helia-ipns.sh uses `check`.
import { createIPNSRecordWithExpiration, marshalIPNSRecord, multihashToIPNSRoutingKey } from 'ipns'
import { ipnsValidator } from 'ipns/validator'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'

const [cmd, a, b] = process.argv.slice(2)
const hex = (u) => Buffer.from(u).toString('hex')
if (cmd === 'make') {
  const key = await generateKeyPair('Ed25519')
  // A fixed, far end of life: the vector stays valid.
  const rec = await createIPNSRecordWithExpiration(key, a, 3n, '2100-01-01T00:00:00.000000000Z', { ttlNs: 300_000_000_000n, v1Compatible: b === 'v1' })
  console.log(JSON.stringify({
    routing_key: hex(multihashToIPNSRoutingKey(key.publicKey.toMultihash())),
    name: key.publicKey.toCID().toString(),
    value: a,
    record: hex(marshalIPNSRecord(rec))
  }))
} else if (cmd === 'check') {
  try {
    const key = multihashToIPNSRoutingKey(CID.parse(a, base36).multihash)
    await ipnsValidator(key, Buffer.from(b, 'hex'))
    console.log('valid')
  } catch (e) {
    console.log(`invalid: ${e.message}`)
    process.exit(1)
  }
} else {
  console.error('usage: ipns-vector.mjs make VALUE [v1] | check NAME RECORDHEX')
  process.exit(2)
}
