// Generates UnixFS test vectors for p2pfs with Helia's ipfs-unixfs-importer.
//
//   cd integration/vectors && npm ci && node gen.mjs
//
// Writes ../../tests/vectors/vectors.json and ../../tests/vectors/*.car.
// Everything is deterministic: running it twice yields byte-identical output.
// The script also self-checks every vector (re-walks each DAG it produced,
// reassembles file contents, checks the HAMT hash layout) and aborts if
// anything is off.

import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CarWriter } from '@ipld/car/writer'
import * as dagPb from '@ipld/dag-pb'
import { murmur3128 } from '@multiformats/murmur3'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { UnixFS } from 'ipfs-unixfs'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import * as rawCodec from 'multiformats/codecs/raw'

const here = dirname(fileURLToPath(import.meta.url))
const OUT_DIR = join(here, '..', '..', 'tests', 'vectors')
mkdirSync(OUT_DIR, { recursive: true })

const pkgVersion = (name) =>
  JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version

const CHUNK = 262144
const enc = new TextEncoder()
const hex = (u8) => Buffer.from(u8).toString('hex')
const sha256hex = (u8) => createHash('sha256').update(u8).digest('hex')

function assert (cond, msg) {
  if (!cond) {
    throw new Error(`self-check failed: ${msg}`)
  }
}

/** byte i = i % 251 */
function pattern (n) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

// ---------------------------------------------------------------------------
// Importer options. "recorded" is the plain-JSON description stored in
// vectors.json; toImporterOptions() turns it into what the importer takes.
// ---------------------------------------------------------------------------

/** `ipfs add --cid-version=1` (Kubo): CIDv1, raw leaves, 256KiB, balanced/174 */
const KUBO_V1 = Object.freeze({
  cidVersion: 1,
  rawLeaves: true,
  leafType: 'file',
  reduceSingleLeafToSelf: true,
  chunker: { type: 'fixed-size', chunkSize: CHUNK },
  layout: { type: 'balanced', maxChildrenPerNode: 174 },
  hashAlg: 'sha2-256',
  shardSplitThresholdBytes: 262144,
  shardSplitStrategy: 'links-bytes',
  shardFanoutBits: 8,
  fieldOrder: 'links-first',
  wrapWithDirectory: false,
  mode: null,
  mtime: null
})

/** plain `ipfs add` (Kubo default): CIDv0, UnixFS 'file' leaves (no raw leaves) */
const KUBO_V0 = Object.freeze({ ...KUBO_V1, cidVersion: 0, rawLeaves: false })

function opts (base, overrides = {}) {
  return { ...base, ...overrides }
}

function toImporterOptions (o) {
  return {
    cidVersion: o.cidVersion,
    rawLeaves: o.rawLeaves,
    leafType: o.leafType,
    reduceSingleLeafToSelf: o.reduceSingleLeafToSelf,
    chunker: fixedSize({ chunkSize: o.chunker.chunkSize }),
    layout: balanced({ maxChildrenPerNode: o.layout.maxChildrenPerNode }),
    shardSplitThresholdBytes: o.shardSplitThresholdBytes,
    shardSplitStrategy: o.shardSplitStrategy,
    shardFanoutBits: o.shardFanoutBits,
    fieldOrder: o.fieldOrder,
    wrapWithDirectory: o.wrapWithDirectory,
    // keep block order / concurrency irrelevant to the output, but stable
    fileImportConcurrency: 1,
    blockWriteConcurrency: 1
  }
}

async function runImport (candidates, recordedOpts) {
  const bs = new MemoryBlockstore()
  const results = []
  for await (const entry of importer(candidates, bs, toImporterOptions(recordedOpts))) {
    results.push(entry)
  }
  return { bs, results, last: results[results.length - 1] }
}

// ---------------------------------------------------------------------------
// DAG helpers
// ---------------------------------------------------------------------------

async function getBlock (bs, cid) {
  const parts = []
  for await (const p of bs.get(cid)) parts.push(p)
  return parts.length === 1 ? parts[0] : Buffer.concat(parts)
}

/** All blocks reachable from root, depth-first pre-order, links in stored order, deduplicated. */
async function collectBlocks (bs, root) {
  const seen = new Set()
  const out = []
  async function visit (cid) {
    const key = cid.toString()
    if (seen.has(key)) return
    seen.add(key)
    const bytes = await getBlock(bs, cid)
    out.push({ cid, bytes })
    if (cid.code === dagPb.code) {
      for (const l of dagPb.decode(bytes).Links) await visit(l.Hash)
    }
  }
  await visit(root)
  return out
}

/** Reassemble a UnixFS file (raw or dag-pb) and return its bytes. */
async function readFile (bs, cid) {
  const bytes = await getBlock(bs, cid)
  if (cid.code === rawCodec.code) return bytes
  const node = dagPb.decode(bytes)
  const fs = UnixFS.unmarshal(node.Data)
  assert(fs.type === 'file' || fs.type === 'raw', `expected file at ${cid}`)
  const parts = []
  if (fs.data != null) parts.push(fs.data)
  for (const l of node.Links) parts.push(await readFile(bs, l.Hash))
  const all = Buffer.concat(parts)
  assert(BigInt(all.length) === fs.fileSize(), `filesize mismatch at ${cid}`)
  return all
}

/** leaf count and depth of a file DAG */
async function fileShape (bs, cid) {
  if (cid.code === rawCodec.code) return { leaves: 1, depth: 0 }
  const node = dagPb.decode(await getBlock(bs, cid))
  if (node.Links.length === 0) return { leaves: 1, depth: 0 }
  let leaves = 0
  let depth = 0
  for (const l of node.Links) {
    const s = await fileShape(bs, l.Hash)
    leaves += s.leaves
    depth = Math.max(depth, s.depth + 1)
  }
  return { leaves, depth }
}

/** murmur3-x64-128 (seed 0) of UTF-8 name; returns h1 as 8 big-endian bytes, as the importer uses it. */
async function hamtH1 (name) {
  const d = await murmur3128.encode(enc.encode(name)) // h1 BE || h2 BE
  return d.slice(0, 8)
}

/**
 * Walk a UnixFS directory tree (flat or HAMT) and list every entry below root.
 * Each entry: {path, cid, type, size (file content bytes, null for dirs), tsize (link Tsize in parent)}
 * For HAMT dirs also checks that the link label prefixes match the hash of the name.
 */
async function listTree (bs, rootCid, rootPath) {
  const entries = []
  async function visitDir (cid, path) {
    const node = dagPb.decode(await getBlock(bs, cid))
    const fs = UnixFS.unmarshal(node.Data)
    if (fs.type === 'directory') {
      for (const l of node.Links) await visitEntry(l.Hash, `${path}/${l.Name}`, l.Tsize)
    } else if (fs.type === 'hamt-sharded-directory') {
      await visitShard(node, fs, path, [])
    } else {
      throw new Error(`not a dir: ${cid}`)
    }
  }
  async function visitShard (node, fs, path, prefixPath) {
    const padLen = (Number(fs.fanout) - 1).toString(16).length
    for (const l of node.Links) {
      const label = l.Name.slice(0, padLen)
      const idx = parseInt(label, 16)
      assert(label === label.toUpperCase(), 'hamt label must be uppercase hex')
      if (l.Name.length === padLen) {
        const sub = dagPb.decode(await getBlock(bs, l.Hash))
        const subFs = UnixFS.unmarshal(sub.Data)
        assert(subFs.type === 'hamt-sharded-directory', 'subshard type')
        await visitShard(sub, subFs, path, [...prefixPath, idx])
      } else {
        const name = l.Name.slice(padLen)
        const h1 = await hamtH1(name)
        const levels = [...prefixPath, idx]
        levels.forEach((v, d) => assert(h1[d] === v, `hamt index mismatch for ${name} at depth ${d}`))
        await visitEntry(l.Hash, `${path}/${name}`, l.Tsize, { hamt_label: l.Name, hamt_indexes: levels, murmur3_h1_be_hex: hex(h1) })
      }
    }
  }
  async function visitEntry (cid, path, tsize, extra = {}) {
    if (cid.code === rawCodec.code) {
      const bytes = await getBlock(bs, cid)
      entries.push({ path, cid: cid.toString(), type: 'file', size: bytes.length, tsize, ...extra })
      return
    }
    const node = dagPb.decode(await getBlock(bs, cid))
    const fs = UnixFS.unmarshal(node.Data)
    if (fs.type === 'file' || fs.type === 'raw') {
      entries.push({ path, cid: cid.toString(), type: 'file', size: Number(fs.fileSize()), tsize, ...extra })
    } else if (fs.type === 'symlink') {
      entries.push({ path, cid: cid.toString(), type: 'symlink', size: null, tsize, target: new TextDecoder().decode(fs.data), ...extra })
    } else {
      entries.push({ path, cid: cid.toString(), type: fs.type === 'directory' ? 'directory' : 'hamt-sharded-directory', size: null, tsize, ...extra })
      await visitDir(cid, path)
    }
  }
  await visitDir(rootCid, rootPath)
  return entries
}

async function writeCar (name, bs, root) {
  const blocks = await collectBlocks(bs, root)
  const { writer, out } = CarWriter.create([root])
  const chunks = []
  const reading = (async () => { for await (const c of out) chunks.push(c) })()
  for (const b of blocks) await writer.put(b)
  await writer.close()
  await reading
  const bytes = Buffer.concat(chunks)
  assert(bytes.length < 1024 * 1024, `${name} must stay below 1 MiB`)
  writeFileSync(join(OUT_DIR, name), bytes)
  return {
    file: name,
    format: 'CARv1',
    roots: [root.toString()],
    block_order: 'depth-first pre-order from the root, links in stored order, each block once',
    block_count: blocks.length,
    byte_length: bytes.length,
    sha256: sha256hex(bytes)
  }
}

/** Minimal protobuf reader for UnixFS Data (ipfs-unixfs' UnixFS.unmarshal drops hashType). */
function pbFields (buf) {
  const out = []
  let i = 0
  const varint = () => {
    let x = 0n
    let shift = 0n
    for (;;) {
      const b = buf[i++]
      x |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return x
      shift += 7n
    }
  }
  while (i < buf.length) {
    const key = Number(varint())
    const field = key >> 3
    const wire = key & 7
    if (wire === 0) out.push({ field, value: varint() })
    else if (wire === 2) { const n = Number(varint()); out.push({ field, bytes: buf.subarray(i, i + n) }); i += n }
    else throw new Error(`unexpected wire type ${wire}`)
  }
  return out
}

function shardNodeInfo (cid, block) {
  const node = dagPb.decode(block)
  const f = pbFields(node.Data)
  const get = (n) => f.find(x => x.field === n)
  return {
    cid: cid.toString(),
    unixfs_data_hex: hex(node.Data),
    unixfs_field_order: f.map(x => x.field),
    type: Number(get(1).value),
    bitfield_hex: hex(get(2)?.bytes ?? new Uint8Array()),
    bitfield_len: get(2)?.bytes.length ?? 0,
    hash_type: Number(get(5).value),
    fanout: Number(get(6).value),
    link_names: node.Links.map(l => l.Name),
    block_len: block.length
  }
}

function rootInfo (block, node) {
  const info = { root_block_len: block.length }
  if (block.length <= 1024) info.root_block_hex = hex(block)
  if (node != null && node.Links.length > 0 && node.Links.length <= 4) {
    info.root_links = node.Links.map(l => ({ name: l.Name, cid: l.Hash.toString(), tsize: l.Tsize }))
  }
  return info
}

// ---------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------

const vectors = {
  files: [],
  directories: [],
  symlinks: [],
  hamt: [],
  hamt_threshold: null,
  known_kubo_cids: []
}

// ---- single files --------------------------------------------------------

async function fileVector (name, size, recorded, content = pattern(size), contentSpec = { kind: 'mod251', size }) {
  const { bs, results, last } = await runImport([{ content }], recorded)
  assert(results.length === 1, 'one result for a single file')
  const cid = last.cid
  const back = await readFile(bs, cid)
  assert(Buffer.compare(back, Buffer.from(content)) === 0, `${name}: content round trip`)
  const block = await getBlock(bs, cid)
  const node = cid.code === dagPb.code ? dagPb.decode(block) : null
  const shape = await fileShape(bs, cid)
  const v = {
    name,
    content: contentSpec,
    options: recorded,
    cid: cid.toString(),
    cid_version: cid.version,
    codec: cid.code === rawCodec.code ? 'raw' : 'dag-pb',
    tsize: Number(last.size),
    leaves: shape.leaves,
    depth: shape.depth,
    block_count: (await collectBlocks(bs, cid)).length,
    ...rootInfo(block, node)
  }
  vectors.files.push(v)
  return v
}

const sizes = [
  ['file-1', 1],
  ['file-262144', CHUNK],
  ['file-262145', CHUNK + 1],
  ['file-3x262144+100', 3 * CHUNK + 100],
  ['file-174x262144', 174 * CHUNK],
  ['file-174x262144+1', 174 * CHUNK + 1]
]

const emptyFile = await fileVector('empty-file', 0, opts(KUBO_V1))
assert(emptyFile.cid === 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', `empty file CID ${emptyFile.cid}`)

for (const [name, size] of sizes) {
  const v = await fileVector(name, size, opts(KUBO_V1))
  if (size <= CHUNK) assert(v.cid.startsWith('bafkrei') && v.codec === 'raw', `${name} must be a single raw block, got ${v.cid}`)
  else assert(v.cid.startsWith('bafybei') && v.codec === 'dag-pb', `${name} must be a dag-pb root`)
}
assert(vectors.files.find(v => v.name === 'file-174x262144').depth === 1, '174 chunks: one level')
assert(vectors.files.find(v => v.name === 'file-174x262144+1').depth === 2, '175 chunks: two levels')

for (const [name, size] of [['file-262145', CHUNK + 1], ['file-174x262144+1', 174 * CHUNK + 1]]) {
  const v = await fileVector(`${name}-cidv0`, size, opts(KUBO_V0))
  assert(v.cid.startsWith('Qm'), `${name} v0 must be base58btc Qm..., got ${v.cid}`)
}

// ---- well-known Kubo CIDs (sanity anchors) --------------------------------

const hello = enc.encode('hello\n')
{
  const v1 = await fileVector('hello-newline', 6, opts(KUBO_V1), hello, { kind: 'utf8', value: 'hello\n' })
  const v0 = await fileVector('hello-newline-cidv0', 6, opts(KUBO_V0), hello, { kind: 'utf8', value: 'hello\n' })
  const e0 = await fileVector('empty-file-cidv0', 0, opts(KUBO_V0), new Uint8Array(0), { kind: 'mod251', size: 0 })
  const known = [
    // `echo hello | ipfs add` (CIDv0, the example from the IPFS docs)
    { what: '"hello\\n" with `ipfs add`', expected: 'QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN', got: v0.cid },
    // empty file with `ipfs add` (CIDv0)
    { what: 'empty file with `ipfs add`', expected: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH', got: e0.cid },
    { what: 'empty file with `ipfs add --cid-version=1`', expected: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', got: emptyFile.cid },
    { what: '"hello\\n" with `ipfs add --cid-version=1` (raw block, sha2-256)', expected: null, got: v1.cid }
  ]
  for (const k of known) {
    k.match = k.expected == null ? null : k.expected === k.got
    assert(k.match !== false, `${k.what}: expected ${k.expected} got ${k.got}`)
  }
  vectors.known_kubo_cids = known
}

// ---- empty directory ------------------------------------------------------

{
  const recorded = opts(KUBO_V1)
  const { bs, last } = await runImport([{ path: 'empty' }], recorded)
  const block = await getBlock(bs, last.cid)
  assert(last.cid.toString() === 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354', `empty dir ${last.cid}`)
  vectors.directories.push({
    name: 'empty-directory',
    options: recorded,
    inputs: [{ path: 'empty', type: 'directory' }],
    root_path: 'empty',
    cid: last.cid.toString(),
    tsize: Number(last.size),
    entries: [],
    ...rootInfo(block, dagPb.decode(block))
  })
  const v0 = await runImport([{ path: 'empty' }], opts(KUBO_V0))
  const k = { what: 'empty directory with `ipfs add` (CIDv0)', expected: 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn', got: v0.last.cid.toString() }
  k.match = k.expected === k.got
  assert(k.match, `${k.what}: got ${k.got}`)
  vectors.known_kubo_cids.push(k)
}

// ---- nested directory with unicode names ---------------------------------

/** input spec -> importer candidate */
function toCandidate (spec) {
  if (spec.type === 'directory') return { path: spec.path }
  if (spec.type === 'symlink') return { path: spec.path, link: spec.target }
  const c = spec.content
  const bytes = c.kind === 'utf8' ? enc.encode(c.value) : pattern(c.size)
  return { path: spec.path, content: bytes }
}

function utf8Hex (s) { return hex(enc.encode(s)) }

async function dirVector (name, rootPath, inputs, recorded, { car } = {}) {
  const { bs, results, last } = await runImport(inputs.map(toCandidate), recorded)
  assert(last.path === rootPath, `${name}: last yielded entry is the root (${last.path})`)
  const root = last.cid
  const entries = await listTree(bs, root, rootPath)
  // every input is present, with the right content
  for (const spec of inputs) {
    const e = entries.find(x => x.path === spec.path)
    assert(e != null, `${name}: ${spec.path} present`)
    assert(e.type === (spec.type ?? 'file'), `${name}: ${spec.path} type`)
    if (e.type === 'file') {
      const want = toCandidate(spec).content
      const got = await readFile(bs, CID.parse(e.cid))
      assert(Buffer.compare(got, Buffer.from(want)) === 0, `${name}: ${spec.path} content`)
    }
  }
  // the importer's own yielded results agree with the walk
  for (const r of results) {
    if (r.path === rootPath) continue
    const e = entries.find(x => x.path === r.path)
    assert(e != null && e.cid === r.cid.toString() && e.tsize === Number(r.size), `${name}: yielded ${r.path} agrees with walk`)
  }
  const block = await getBlock(bs, root)
  const v = {
    name,
    options: recorded,
    inputs: inputs.map(s => ({ ...s, type: s.type ?? 'file', path_utf8_hex: utf8Hex(s.path) })),
    root_path: rootPath,
    cid: root.toString(),
    tsize: Number(last.size),
    entries: entries.map(e => ({ ...e, path_utf8_hex: utf8Hex(e.path) })),
    ...rootInfo(block, dagPb.decode(block))
  }
  if (car) v.car = await writeCar(car, bs, root)
  return { v, bs, root, entries }
}

const NESTED_INPUTS = [
  { path: 'dir/a.txt', content: { kind: 'utf8', value: 'hello\n' } },
  { path: 'dir/\u00fcn\u00efc\u00f6d\u00e9/\u65e5\u672c\u8a9e.txt', content: { kind: 'utf8', value: '\u3053\u3093\u306b\u3061\u306f\n' } },
  { path: 'dir/sub/deeper/x.bin', content: { kind: 'mod251', size: 300000 } },
  { path: 'dir/emoji-\u{1F600}.txt', content: { kind: 'utf8', value: '\u{1F600}\n' } },
  { path: 'dir/Zeta', content: { kind: 'utf8', value: 'z\n' } },
  { path: 'dir/alpha', content: { kind: 'utf8', value: 'a\n' } },
  { path: 'dir/empty', type: 'directory' }
]

{
  const { v } = await dirVector('nested', 'dir', NESTED_INPUTS, opts(KUBO_V1), { car: 'nested.car' })
  // root links are sorted by the raw UTF-8 bytes of their names
  const names = dagPb.decode(Buffer.from(v.root_block_hex, 'hex')).Links.map(l => l.Name)
  v.root_link_order = names
  assert(JSON.stringify(names) === JSON.stringify(['Zeta', 'a.txt', 'alpha', 'emoji-\u{1F600}.txt', 'empty', 'sub', '\u00fcn\u00efc\u00f6d\u00e9']), `nested link order ${names}`)
  vectors.directories.push(v)
}

// ---- symlinks ---------------------------------------------------------------

{
  const recorded = opts(KUBO_V1)
  const { bs, results } = await runImport([{ path: 'link-to-a', link: 'a.txt' }], recorded)
  assert(results.length === 1, 'one result for a lone symlink')
  const r = results[0]
  const block = await getBlock(bs, r.cid)
  const fs = UnixFS.unmarshal(dagPb.decode(block).Data)
  assert(fs.type === 'symlink' && new TextDecoder().decode(fs.data) === 'a.txt', 'symlink node')
  vectors.symlinks.push({
    name: 'symlink',
    options: recorded,
    input: { path: 'link-to-a', type: 'symlink', target: 'a.txt' },
    cid: r.cid.toString(),
    tsize: Number(r.size),
    root_block_hex: hex(block)
  })
  const { v } = await dirVector('dir-with-symlink', 'symdir', [
    { path: 'symdir/a.txt', content: { kind: 'utf8', value: 'hello\n' } },
    { path: 'symdir/link-to-a', type: 'symlink', target: 'a.txt' },
    { path: 'symdir/abs', type: 'symlink', target: '/etc/hostname' }
  ], recorded)
  vectors.symlinks.push(v)
}

// ---- HAMT ------------------------------------------------------------------

const HAMT_2000_INPUTS_RULE = {
  root_path: 'shard',
  count: 2000,
  path: 'shard/file-%05d.txt for k in 0..2000 (file-00000.txt ... file-01999.txt)',
  content: 'UTF-8 text `content ${k}\\n` with k in plain decimal (e.g. "content 0\\n", "content 1999\\n")'
}
const hamt2000Inputs = () => Array.from({ length: 2000 }, (_, k) => ({
  path: `shard/file-${String(k).padStart(5, '0')}.txt`,
  content: enc.encode(`content ${k}\n`)
}))

async function hamtVector (name, rootPath, inputsFn, rule, recorded, { car, listEntries, hashExamples = [] } = {}) {
  const { bs, last, results } = await runImport(inputsFn(), recorded)
  assert(last.path === rootPath, `${name}: root yielded last`)
  const root = last.cid
  const block = await getBlock(bs, root)
  const node = dagPb.decode(block)
  const fs = UnixFS.unmarshal(node.Data)
  assert(fs.type === 'hamt-sharded-directory', `${name}: root is a HAMT shard`)
  const entries = await listTree(bs, root, rootPath)
  const inputs = inputsFn()
  assert(entries.length === inputs.length, `${name}: entry count ${entries.length}`)
  for (const inp of inputs) {
    const e = entries.find(x => x.path === inp.path)
    assert(e != null, `${name}: ${inp.path} present`)
    const got = await readFile(bs, CID.parse(e.cid))
    assert(Buffer.compare(got, Buffer.from(inp.content)) === 0, `${name}: ${inp.path} content`)
  }
  for (const r of results) {
    if (r.path === rootPath) continue
    const e = entries.find(x => x.path === r.path)
    assert(e != null && e.cid === r.cid.toString(), `${name}: yielded ${r.path} agrees with walk`)
  }
  const blocks = await collectBlocks(bs, root)
  let shardNodes = 0
  let maxDepth = 0
  for (const b of blocks) {
    if (b.cid.code === dagPb.code && UnixFS.unmarshal(dagPb.decode(b.bytes).Data).type === 'hamt-sharded-directory') shardNodes++
  }
  for (const e of entries) maxDepth = Math.max(maxDepth, e.hamt_indexes.length)
  // the bitfield: Data = minimal big-endian bytes of a 256-bit integer; bit i set <=> bucket i used
  const bitfield = BigInt('0x' + (fs.data.length ? hex(fs.data) : '0'))
  const used = node.Links.map(l => parseInt(l.Name.slice(0, 2), 16))
  for (let i = 0; i < 256; i++) assert(((bitfield >> BigInt(i)) & 1n) === (used.includes(i) ? 1n : 0n), `${name}: bitfield bit ${i}`)
  const v = {
    name,
    options: recorded,
    inputs: rule,
    root_path: rootPath,
    cid: root.toString(),
    tsize: Number(last.size),
    entry_count: entries.length,
    shard_node_count: shardNodes,
    block_count: blocks.length,
    max_hamt_depth: maxDepth,
    root_link_count: node.Links.length,
    root_shard: (({ link_names, ...rest }) => rest)(shardNodeInfo(root, block)),
    ...rootInfo(block, node)
  }
  if (hashExamples.length > 0) {
    v.hash_examples = hashExamples.map(n => {
      const e = entries.find(x => x.path === `${rootPath}/${n}`)
      return { name: n, murmur3_h1_be_hex: e.murmur3_h1_be_hex, hamt_indexes: e.hamt_indexes, hamt_label: e.hamt_label, cid: e.cid }
    })
  }
  if (listEntries) {
    v.entries = entries.map(e => ({ ...e, path_utf8_hex: utf8Hex(e.path) }))
    v.shard_nodes = blocks
      .filter(b => b.cid.code === dagPb.code && UnixFS.unmarshal(dagPb.decode(b.bytes).Data).type === 'hamt-sharded-directory')
      .map(b => shardNodeInfo(b.cid, b.bytes))
  }
  if (car) v.car = await writeCar(car, bs, root)
  vectors.hamt.push(v)
  return { v, bs, entries }
}

const forced = opts(KUBO_V1, { shardSplitThresholdBytes: 1 })

const h2000 = await hamtVector('hamt-2000', 'shard', hamt2000Inputs, HAMT_2000_INPUTS_RULE, forced, {
  car: 'hamt-2000.car',
  hashExamples: ['file-00000.txt', 'file-00001.txt', 'file-01000.txt', 'file-01999.txt']
})

await hamtVector('hamt-40', 'small', () => Array.from({ length: 40 }, (_, k) => ({
  path: `small/f${k}`,
  content: enc.encode('x\n')
})), {
  root_path: 'small',
  count: 40,
  path: 'small/f{k} for k in 0..40 (f0 ... f39, no zero padding)',
  content: 'UTF-8 text "x\\n" for every file'
}, forced, { car: 'hamt-40.car', listEntries: true })

// ---- sharding threshold semantics, measured on the same 2000 entries ------

{
  const estimate = h2000.entries.reduce((acc, e) => acc + enc.encode(e.path.slice('shard/'.length)).length + CID.parse(e.cid).bytes.length, 0)
  const atDefault = await runImport(hamt2000Inputs(), opts(KUBO_V1))
  const atEqual = await runImport(hamt2000Inputs(), opts(KUBO_V1, { shardSplitThresholdBytes: estimate }))
  const atBelow = await runImport(hamt2000Inputs(), opts(KUBO_V1, { shardSplitThresholdBytes: estimate - 1 }))
  const typeOf = async (r) => UnixFS.unmarshal(dagPb.decode(await getBlock(r.bs, r.last.cid)).Data).type
  const flatBlock = await getBlock(atEqual.bs, atEqual.last.cid)
  const t = {
    description: 'How the installed importer decides to shard (ipfs-unixfs-importer src/flat-to-shard.ts:10, src/dir-flat.ts:13-19,125-152). Strategy "links-bytes" (the default): estimate = sum over children that already have a CID of (UTF-8 byte length of the link name + byte length of the binary CID); child directories that are still being built have no CID yet and count 0. The directory is converted to a HAMT when estimate > shardSplitThresholdBytes (strictly greater). The check runs after every insert; a directory never converts back to flat.',
    entries: '2000 files of hamt-2000 (same inputs)',
    per_entry_estimate_bytes: 'len("file-NNNNN.txt")=14 + len(CIDv1 raw sha2-256)=36 = 50',
    links_bytes_estimate: estimate,
    comparison: 'estimate > shardSplitThresholdBytes',
    flat_block_len: flatBlock.length,
    results: [
      { shardSplitThresholdBytes: 262144, type: await typeOf(atDefault), cid: atDefault.last.cid.toString() },
      { shardSplitThresholdBytes: estimate, type: await typeOf(atEqual), cid: atEqual.last.cid.toString() },
      { shardSplitThresholdBytes: estimate - 1, type: await typeOf(atBelow), cid: atBelow.last.cid.toString() },
      { shardSplitThresholdBytes: 1, type: 'hamt-sharded-directory', cid: h2000.v.cid }
    ]
  }
  assert(estimate === 100000, `estimate ${estimate}`)
  assert(t.results[0].type === 'directory' && t.results[1].type === 'directory', 'at/below threshold stays flat')
  assert(t.results[2].type === 'hamt-sharded-directory' && t.results[2].cid === h2000.v.cid, 'above threshold shards, same DAG as forced')
  assert(t.results[0].cid === t.results[1].cid, 'flat dir independent of threshold')
  vectors.hamt_threshold = t
}

// ---------------------------------------------------------------------------

const doc = {
  about: 'UnixFS test vectors generated by integration/vectors/gen.mjs with Helia ipfs-unixfs-importer. Regenerate: cd integration/vectors && npm ci && node gen.mjs',
  generator: {
    node: process.version,
    packages: Object.fromEntries(['ipfs-unixfs-importer', 'ipfs-unixfs', '@ipld/dag-pb', '@ipld/car', 'blockstore-core', 'multiformats', 'hamt-sharding', 'sparse-array', '@multiformats/murmur3'].map(n => [n, pkgVersion(n)]))
  },
  conventions: {
    content_kinds: {
      mod251: 'size bytes where byte i = (i % 251) as u8',
      utf8: 'the UTF-8 encoding of value'
    },
    paths: 'POSIX-style, "/"-separated, NFC; path_utf8_hex gives the exact bytes',
    cid_strings: 'CIDv1 in base32 (b...), CIDv0 in base58btc (Qm...)',
    tsize: 'cumulative DAG size as reported by the importer: block length + sum of the Tsize of its links (raw leaf: its length); this is the Tsize a parent link carries',
    size: 'file content length in bytes (UnixFS filesize); null for directories and symlinks',
    options: 'importer options used; chunker/layout are fixedSize({chunkSize}) and balanced({maxChildrenPerNode}); mode/mtime are never set',
    options_presets: { 'kubo-add-cid-version-1': KUBO_V1, 'kubo-add-default-cidv0': KUBO_V0 }
  },
  ...vectors
}

// pretty-print, but keep short arrays of scalars on one line
const json = JSON.stringify(doc, null, 2).replace(/\[\n\s+([^[\]{}]*?)\n\s+\]/g, (m, inner) => {
  const one = `[${inner.split(/,\n\s+/).join(', ')}]`
  return one.length <= 100 ? one : m
})
assert(JSON.stringify(JSON.parse(json)) === JSON.stringify(doc), 'compact JSON round trip')
writeFileSync(join(OUT_DIR, 'vectors.json'), json + '\n')
console.log(`wrote ${join(OUT_DIR, 'vectors.json')}`)
for (const v of [...vectors.files]) console.log(`${v.name.padEnd(28)} ${v.cid}`)
for (const v of [...vectors.directories, ...vectors.symlinks, ...vectors.hamt]) console.log(`${v.name.padEnd(28)} ${v.cid}`)
