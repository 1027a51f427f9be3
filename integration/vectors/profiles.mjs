// IPIP-499 import-profile vectors for p2pfs, made with Helia's
// ipfs-unixfs-importer and its own `profile` option.
//
//   cd integration/vectors && npm ci && node profiles.mjs
//
// (the node_modules of integration/helia hold the same packages: a symlink
// integration/vectors/node_modules -> ../helia/node_modules works too).
// Writes ../../tests/vectors/profiles.json; deterministic, so running it
// twice gives the same file. tests/profiles.rs imports the same inputs with
// p2pfs and compares; it does not need node.
//
// Inputs come from formulas the Rust test repeats:
//   mod251    byte i = i % 251
//   chacha20  the ChaCha20 keystream (RFC 8439, key = sha256(seed), nonce 0,
//             counter 0): Kubo's test/cli/testutils DeterministicRandomReader.
//             Kubo's IPIP-499 fixtures (test/cli/cid_profiles_test.go,
//             the IPIP's "Test fixtures") are made from it; this script
//             checks that Helia gives the CIDs Kubo lists for them.
//   kubo-names  Kubo's createDeterministicFiles: names drawn from one
//             chacha20 stream, byte % 39 into "abcdefghijklmnopqrstuvwxyz01234567890-_",
//             every file the one byte "x".
//   numbered  file-%05d.txt for k in 0..count, content `content ${k}\n`.

import { createCipheriv, createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagPb from '@ipld/dag-pb'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { UnixFS } from 'ipfs-unixfs'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import * as rawCodec from 'multiformats/codecs/raw'

const here = dirname(fileURLToPath(import.meta.url))
const OUT = join(here, '..', '..', 'tests', 'vectors', 'profiles.json')
const enc = new TextEncoder()
const MiB = 1048576
const KiB256 = 262144

function assert (cond, msg) {
  if (!cond) throw new Error(`self-check failed: ${msg}`)
}

function mod251 (n) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

function chacha20 (n, seed) {
  const key = createHash('sha256').update(seed).digest()
  // Node's IV: 4-byte little-endian counter, then the 12-byte nonce.
  const c = createCipheriv('chacha20', key, Buffer.alloc(16))
  return new Uint8Array(c.update(Buffer.alloc(n)))
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz01234567890-_'

/** Kubo's createDeterministicFiles names (the stream is 1 MiB long there). */
function kuboNames (count, len, lastLen, seed) {
  const stream = chacha20(MiB, seed)
  let at = 0
  const names = []
  for (let i = 0; i < count; i++) {
    const l = i === count - 1 ? lastLen : len
    let s = ''
    for (let j = 0; j < l; j++) s += ALPHABET[stream[at++] % ALPHABET.length]
    names.push(s)
  }
  return names
}

function content (spec) {
  switch (spec.kind) {
    case 'mod251': return mod251(spec.size)
    case 'chacha20': return chacha20(spec.size, spec.seed)
    case 'utf8': return enc.encode(spec.value)
    default: throw new Error(spec.kind)
  }
}

function dirInputs (spec) {
  if (spec.kind === 'kubo-names') {
    return kuboNames(spec.count, spec.name_len, spec.last_name_len, spec.seed)
      .map(n => ({ name: n, bytes: enc.encode('x') }))
  }
  if (spec.kind === 'numbered') {
    return Array.from({ length: spec.count }, (_, k) => ({
      name: `file-${String(k).padStart(5, '0')}.txt`,
      bytes: enc.encode(`content ${k}\n`)
    }))
  }
  throw new Error(spec.kind)
}

function importerOptions (profile, chunkSize, hamt = {}) {
  const o = { profile, fileImportConcurrency: 1, blockWriteConcurrency: 1 }
  if (chunkSize != null) o.chunker = fixedSize({ chunkSize })
  if (hamt.threshold != null) o.shardSplitThresholdBytes = hamt.threshold
  if (hamt.fanout != null) o.shardFanoutBits = Math.log2(hamt.fanout)
  return o
}

async function getBlock (bs, cid) {
  const parts = []
  for await (const p of bs.get(cid)) parts.push(p)
  return parts.length === 1 ? parts[0] : Buffer.concat(parts)
}

async function shape (bs, cid) {
  if (cid.code === rawCodec.code) return { leaves: 1, depth: 0 }
  const node = dagPb.decode(await getBlock(bs, cid))
  if (node.Links.length === 0) return { leaves: 1, depth: 0 }
  let leaves = 0
  let depth = 0
  for (const l of node.Links) {
    const s = await shape(bs, l.Hash)
    leaves += s.leaves
    depth = Math.max(depth, s.depth + 1)
  }
  return { leaves, depth }
}

async function fileVector (name, profile, spec, { chunkSize, kubo } = {}) {
  const bs = new MemoryBlockstore()
  let last
  for await (const e of importer([{ content: content(spec) }], bs, importerOptions(profile, chunkSize))) last = e
  const s = await shape(bs, last.cid)
  const v = { name, profile, content: spec, cid: last.cid.toString(), tsize: Number(last.size), leaves: s.leaves, depth: s.depth }
  if (chunkSize != null) v.chunk_size = chunkSize
  if (kubo != null) {
    assert(v.cid === kubo, `${name}: Helia ${v.cid}, Kubo's fixture ${kubo}`)
    v.kubo_fixture = kubo
  }
  return v
}

/** The two estimates of the flat node, computed from the flat node itself. */
function estimates (entries) {
  const links = entries.map(e => ({ Name: e.name, Hash: e.cid, Tsize: e.tsize }))
  const flat = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: links }))
  const linksBytes = entries.reduce((a, e) => a + enc.encode(e.name).length + e.cid.bytes.length, 0)
  return { links_bytes: linksBytes, block_bytes: flat.length }
}

async function dirVector (name, profile, spec, { kubo, hamt } = {}) {
  const bs = new MemoryBlockstore()
  const inputs = dirInputs(spec)
  const results = []
  const candidates = inputs.map(i => ({ path: `dir/${i.name}`, content: i.bytes }))
  for await (const e of importer(candidates, bs, importerOptions(profile, null, hamt))) results.push(e)
  const root = results[results.length - 1]
  assert(root.path === 'dir', `${name}: the root comes last`)
  const entries = results.slice(0, -1).map(e => ({ name: e.path.slice(4), cid: e.cid, tsize: Number(e.size) }))
  assert(entries.length === inputs.length, `${name}: every file imported (no duplicate names)`)
  const type = UnixFS.unmarshal(dagPb.decode(await getBlock(bs, root.cid)).Data).type
  const v = { name, profile, inputs: spec, cid: root.cid.toString(), tsize: Number(root.size), type, ...estimates(entries) }
  if (hamt != null) {
    v.hamt_threshold = hamt.threshold
    v.hamt_fanout = hamt.fanout
  }
  const est = profile === 'unixfs-v1-2025' ? v.block_bytes : v.links_bytes
  assert((type === 'hamt-sharded-directory') === (est > (hamt?.threshold ?? KiB256)), `${name}: ${type} with estimate ${est}`)
  if (kubo != null) {
    assert(v.cid === kubo, `${name}: Helia ${v.cid}, Kubo's fixture ${kubo}`)
    v.kubo_fixture = kubo
  }
  return v
}

const V0 = 'unixfs-v0-2015'
const V1 = 'unixfs-v1-2025'
const files = []
const directories = []

// ---- files of the IPIP's test fixtures (Kubo's seeds) ---------------------
const hello = { kind: 'utf8', value: 'hello world' }
files.push(await fileVector('kubo-small-file', V0, hello, { kubo: 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD' }))
files.push(await fileVector('kubo-small-file', V1, hello, { kubo: 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e' }))
files.push(await fileVector('kubo-file-at-chunk-size', V0, { kind: 'chacha20', seed: 'chunk-v0-seed', size: KiB256 }, { kubo: 'QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE' }))
files.push(await fileVector('kubo-file-over-chunk-size', V0, { kind: 'chacha20', seed: 'chunk-v0-seed', size: KiB256 + 1 }, { kubo: 'QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ' }))
files.push(await fileVector('kubo-file-at-chunk-size', V1, { kind: 'chacha20', seed: 'chunk-v1-seed', size: MiB }, { kubo: 'bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta' }))
files.push(await fileVector('kubo-file-over-chunk-size', V1, { kind: 'chacha20', seed: 'chunk-v1-seed', size: MiB + 1 }, { kubo: 'bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64' }))
files.push(await fileVector('kubo-file-at-max-links', V0, { kind: 'chacha20', seed: 'v0-seed', size: 174 * KiB256 }, { kubo: 'QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2' }))
files.push(await fileVector('kubo-file-over-max-links', V0, { kind: 'chacha20', seed: 'v0-seed', size: 174 * KiB256 + 1 }, { kubo: 'QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW' }))
assert(files.at(-2).depth === 1 && files.at(-2).leaves === 174, '174 leaves: one level')
assert(files.at(-1).depth === 2 && files.at(-1).leaves === 175, '175 leaves: two levels')
if (process.argv.includes('--gib')) {
  // 1 GiB each: checked here on request (blocks dropped, the keystream
  // made 1 MiB at a time), too big for the Rust test.
  for (const [size, kubo] of [[1024 * MiB, 'bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm'], [1024 * MiB + 1, 'bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe']]) {
    const c = createCipheriv('chacha20', createHash('sha256').update('v1-2025-seed').digest(), Buffer.alloc(16))
    const stream = async function * () {
      for (let left = size; left > 0; left -= Math.min(left, MiB)) yield new Uint8Array(c.update(Buffer.alloc(Math.min(left, MiB))))
    }
    const drop = { put: async (cid) => cid }
    let last
    for await (const e of importer([{ content: stream() }], drop, importerOptions(V1))) last = e
    assert(last.cid.toString() === kubo, `1 GiB fixture of ${size} bytes: Helia ${last.cid}, Kubo ${kubo}`)
    console.log(`${V1} chacha20 ${size} bytes ${kubo} (Kubo's fixture, Helia agrees)`)
  }
}

// ---- files by formula ----------------------------------------------------
for (const profile of [V0, V1]) {
  for (const size of [0, 1, KiB256, KiB256 + 1, MiB, MiB + 1, 3 * MiB + 12345]) {
    files.push(await fileVector(`mod251-${size}`, profile, { kind: 'mod251', size }))
  }
}
// The 1024-link boundary of unixfs-v1-2025 without 1 GiB files: its layout
// with 1 KiB chunks (a chunker given with a profile overrides its size).
for (const n of [1024 * 1024, 1024 * 1024 + 1]) {
  files.push(await fileVector(`mod251-${n}-1KiB-chunks`, V1, { kind: 'mod251', size: n }, { chunkSize: 1024 }))
}
assert(files.at(-2).depth === 1 && files.at(-2).leaves === 1024, '1024 leaves: one level')
assert(files.at(-1).depth === 2 && files.at(-1).leaves === 1025, '1025 leaves: two levels')

// ---- directories of the IPIP's test fixtures ------------------------------
const kuboDir = (seed, count, len, last) => ({ kind: 'kubo-names', seed, count, name_len: len, last_name_len: last })
directories.push(await dirVector('kubo-dir-at-threshold', V0, kuboDir('hamt-unixfs-v0-2015', 4096, 30, 30), { kubo: 'QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN' }))
directories.push(await dirVector('kubo-dir-over-threshold', V0, kuboDir('hamt-unixfs-v0-2015', 4033, 31, 31), { kubo: 'QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP' }))
directories.push(await dirVector('kubo-dir-at-threshold', V1, kuboDir('hamt-unixfs-v1-2025', 4766, 11, 21), { kubo: 'bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4' }))
directories.push(await dirVector('kubo-dir-over-threshold', V1, kuboDir('hamt-unixfs-v1-2025', 4766, 11, 22), { kubo: 'bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu' }))
for (const [d, est, want] of [[0, 'links_bytes', 262144], [1, 'links_bytes', 262145], [2, 'block_bytes', 262144], [3, 'block_bytes', 262145]]) {
  assert(directories[d][est] === want, `${directories[d].name} ${directories[d].profile}: ${est} ${directories[d][est]}`)
}

// ---- directories by formula, just below and above each threshold ----------
// numbered names: v0 entries are 14 + 34 link bytes (5461 fit in 256 KiB),
// v1 flat-node links 58 bytes + 4 bytes of Data (4519 fit).
for (const [profile, count] of [[V0, 5461], [V0, 5462], [V1, 4519], [V1, 4520]]) {
  directories.push(await dirVector(`numbered-${count}`, profile, { kind: 'numbered', count }))
}
// The same 4520 entries under the other profile stay flat (their links-bytes
// estimate, 4520 x 48, is far below 256 KiB): the estimate decides.
directories.push(await dirVector('numbered-4520', V0, { kind: 'numbered', count: 4520 }))
// Other fanouts (Kubo's Import.UnixFSHAMTDirectoryMaxFanout, Helia's
// shardFanoutBits): 16 (one hex digit per label) and 1024 (three), the
// threshold overridden so that 600 entries shard.
for (const fanout of [16, 1024]) {
  const hamt = { threshold: 1000, fanout }
  directories.push(await dirVector(`numbered-600-fanout-${fanout}`, V1, { kind: 'numbered', count: 600 }, { hamt }))
}

const pkg = (n) => JSON.parse(readFileSync(join(here, 'node_modules', n, 'package.json'), 'utf8')).version
const doc = {
  about: 'IPIP-499 profile vectors, made by integration/vectors/profiles.mjs with Helia ipfs-unixfs-importer ({ profile }). The kubo_fixture CIDs are the IPIP test fixtures (Kubo test/cli/cid_profiles_test.go); the script checks Helia gives them.',
  generator: { node: process.version, packages: Object.fromEntries(['ipfs-unixfs-importer', 'ipfs-unixfs', '@ipld/dag-pb', 'multiformats'].map(n => [n, pkg(n)])) },
  profiles: {
    [V0]: { cid_version: 0, raw_leaves: false, chunk_size: KiB256, max_links: 174, hamt_threshold: KiB256, hamt_estimation: 'links', hamt_fanout: 256 },
    [V1]: { cid_version: 1, raw_leaves: true, chunk_size: MiB, max_links: 1024, hamt_threshold: KiB256, hamt_estimation: 'block', hamt_fanout: 256 }
  },
  conventions: {
    content: 'mod251: byte i = i % 251; chacha20: ChaCha20 keystream, key sha256(seed), zero nonce and counter; utf8: the UTF-8 of value',
    inputs: 'kubo-names: count names from one 1 MiB chacha20(seed) stream, name_len bytes each (last_name_len for the last), byte % 39 into "abcdefghijklmnopqrstuvwxyz01234567890-_", each file "x"; numbered: file-%05d.txt for k in 0..count with content "content k\\n"',
    chunk_size: 'when present, a chunker overriding the profile\'s chunk size',
    hamt_threshold: 'when present (with hamt_fanout), shardSplitThresholdBytes and 2^shardFanoutBits overriding the profile\'s',
    estimates: 'links_bytes and block_bytes of the flat directory node (name + CID bytes; the encoded node); type says what the importer built'
  },
  files,
  directories
}
writeFileSync(OUT, JSON.stringify(doc, null, 1) + '\n')
for (const v of [...files, ...directories]) console.log(`${v.profile} ${v.name.padEnd(28)} ${v.cid}`)
