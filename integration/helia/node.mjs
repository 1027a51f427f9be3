#!/usr/bin/env node
// A long-running Helia node driven by JSON lines, for interop tests with p2pfs.
//
//   node node.mjs [--listen /ip4/127.0.0.1/tcp/0] [--dht off|client|server] [--corrupt]
//
// --corrupt makes a misbehaving peer for tests: every block its Bitswap
// server sends goes out with the right CID prefix but one byte flipped, so it
// hashes to no CID anyone asked for. Its own add/cat/get/has are unaffected.
//
// stdout: first line {"event":"ready",...}; then exactly one JSON line per
// command read from stdin (in order). Logs and diagnostics go to stderr
// (DEBUG='helia*,libp2p*' enables the libraries' own debug logs).
// EOF on stdin, SIGINT or SIGTERM stop the node (exit 0).
//
// Network policy: everything stays on loopback. The node listens only where
// --listen says (must be a loopback address), has no bootstrap list, no mDNS,
// no relay, no autonat/upnp, and a connection gater refuses to dial any
// address that is not 127.0.0.0/8 or ::1.

import './polyfills.mjs' // must stay first: Node 20 lacks Promise.withResolvers
import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { withBitswap } from '@helia/bitswap'
import { ipns } from '@helia/ipns'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, MessageType } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { userAgent } from 'libp2p/user-agent'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { ipnsSelector } from 'ipns/selector'
import { ipnsValidator } from 'ipns/validator'

const KAD_PROTOCOL = '/ipfs/kad/1.0.0'

// `ipfs add --cid-version=1` (Kubo): CIDv1, raw leaves, 256 KiB fixed-size
// chunks, balanced DAG with at most 174 links per node.
const KUBO_V1_IMPORT = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 })
}

function parseArgs (argv) {
  const opts = { listen: '/ip4/127.0.0.1/tcp/0', dht: 'off', corrupt: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--listen') opts.listen = val()
    else if (a === '--dht') opts.dht = val()
    else if (a === '--corrupt') opts.corrupt = true
    else if (a === '--help' || a === '-h') {
      process.stderr.write('usage: node node.mjs [--listen MULTIADDR] [--dht off|client|server] [--corrupt]\n')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  if (!['off', 'client', 'server'].includes(opts.dht)) throw new Error('--dht must be off, client or server')
  return opts
}

/** true if the multiaddr's IP (if any) is loopback; DNS names other than localhost are refused */
function isLoopbackAddr (ma) {
  for (const c of ma.getComponents()) {
    if (c.name === 'ip4') return c.value.startsWith('127.')
    if (c.name === 'ip6') return c.value === '::1' || c.value === '0:0:0:0:0:0:0:1'
    if (c.name === 'dns' || c.name === 'dns4' || c.name === 'dns6' || c.name === 'dnsaddr') return c.value === 'localhost'
  }
  return false
}

const text = (v) => typeof v === 'string' ? v : new TextDecoder().decode(v)
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const log = (...args) => process.stderr.write(`[helia-node] ${args.join(' ')}\n`)

function parsePeer (s) {
  if (typeof s !== 'string') throw new Error('peer must be a string')
  if (s.startsWith('/')) {
    const id = multiaddr(s).getComponents().findLast(c => c.name === 'p2p')?.value
    if (id == null) throw new Error('multiaddr has no /p2p/ component')
    return peerIdFromString(id)
  }
  return peerIdFromString(s)
}

function parseCid (s) {
  if (typeof s !== 'string') throw new Error('cid must be a string')
  return CID.parse(s)
}

function timeoutSignal (cmd, def) {
  return AbortSignal.timeout(Number.isFinite(cmd.timeoutMs) ? cmd.timeoutMs : def)
}

/**
 * --corrupt: flip one byte of every block the Bitswap server sends.
 *
 * In @helia/bitswap 4.0.19 the server side is one Ledger per peer
 * (peer-want-lists/ledger.js sendBlocksToPeer): it reads each wanted block
 * from the blockstore, adds `{ prefix: cidToPrefix(cid), data }` to a
 * QueuedBitswapMessage (`message.blocks`, a Map), and hands the message to
 * `network.sendMessage(peerId, message)` (network.js), which merges queued
 * messages for the same peer and writes them out. Our own wants go through
 * the same sendMessage but never carry blocks. So wrapping sendMessage on this
 * node's Network instance and replacing each block's `data` with a copy that
 * has byte 0 flipped changes only what peers receive: the prefix (and so the
 * CID the receiver rebuilds from prefix + hash of the data) no longer matches
 * anything it asked for. The blockstore is untouched (the buffer we are given
 * is never written to, only replaced by a copy), so local add/cat/get/has and
 * Helia's own hash checks on fetched blocks work as before.
 */
function corruptOutgoingBlocks (helia) {
  const bitswap = helia.blockBrokers.find(b => b.name === 'bitswap')?.bitswap
  const network = bitswap?.network
  if (typeof network?.sendMessage !== 'function' || network.sendMessage.length < 2) {
    throw new Error('--corrupt: @helia/bitswap internals changed (no bitswap.network.sendMessage)')
  }
  const send = network.sendMessage.bind(network)
  network.sendMessage = async (peerId, message, options) => {
    const blocks = message?.blocks
    if (blocks instanceof Map && blocks.size > 0) {
      for (const block of blocks.values()) {
        const data = new Uint8Array(block.data.byteLength === 0 ? 1 : block.data.byteLength)
        data.set(block.data)
        data[0] ^= 0xff
        block.data = data
      }
      log(`corrupt: sending ${blocks.size} block(s) with a flipped byte to ${peerId}`)
    }
    return send(peerId, message, options)
  }
  log('corrupt mode: every block served over Bitswap gets byte 0 flipped')
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  const listen = multiaddr(opts.listen)
  if (!isLoopbackAddr(listen)) throw new Error(`refusing to listen on non-loopback address ${opts.listen}`)

  const services = {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping()
  }
  if (opts.dht !== 'off') {
    services.dht = kadDHT({
      protocol: KAD_PROTOCOL,
      clientMode: opts.dht === 'client',
      // the default mapper (removePrivateAddressesMapper) drops loopback
      // addresses, which would keep every 127.0.0.1 peer out of the routing
      // table and out of FIND_NODE/GET_PROVIDERS answers
      peerInfoMapper: passthroughMapper,
      // as Helia's default DHT: IPNS records are checked before they are stored
      validators: { ipns: ipnsValidator },
      selectors: { ipns: ipnsSelector }
    })
  }

  const helia = createHeliaLight({
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore()
  })
  withLibp2pLight(helia, {
    addresses: { listen: [opts.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    connectionGater: {
      denyDialMultiaddr: (ma) => !isLoopbackAddr(ma)
    },
    services
  })
  withBitswap(helia)
  await helia.start()

  const libp2p = helia.libp2p
  if (opts.corrupt) corruptOutgoingBlocks(helia)
  const fs = unixfs(helia)
  const dht = libp2p.services.dht
  const names = ipns(helia)

  out({
    event: 'ready',
    peerId: libp2p.peerId.toString(),
    addrs: libp2p.getMultiaddrs().map(String),
    protocols: libp2p.getProtocols(),
    // same string @helia/libp2p's withLibp2pLight puts in nodeInfo.userAgent,
    // which identify sends as agentVersion
    agentVersion: `${helia.info.name}/${helia.info.version} ${userAgent()}`,
    dht: opts.dht,
    ...(opts.corrupt ? { corrupt: true } : {})
  })

  async function peerInfo (peerId) {
    const p = await libp2p.peerStore.get(peerId)
    const agent = p.metadata.get('AgentVersion')
    const proto = p.metadata.get('ProtocolVersion')
    return {
      peer: peerId.toString(),
      protocols: p.protocols,
      addrs: p.addresses.map(a => a.multiaddr.toString()),
      agentVersion: agent == null ? null : new TextDecoder().decode(agent),
      protocolVersion: proto == null ? null : new TextDecoder().decode(proto)
    }
  }

  let stopping = false
  async function shutdown (code) {
    if (stopping) return
    stopping = true
    setTimeout(() => process.exit(code), 5000) // hard guard if stop() hangs
    try {
      await helia.stop()
    } catch (err) {
      log('error stopping:', err.message)
    }
    process.exit(code)
  }

  const handlers = {
    async add (cmd) {
      if (typeof cmd.path !== 'string') throw new Error('path required')
      const st = await stat(cmd.path)
      const t0 = Date.now()
      const cid = await fs.addByteStream(createReadStream(cmd.path, { highWaterMark: 262144 }), KUBO_V1_IMPORT)
      return { cid: cid.toString(), bytes: st.size, ms: Date.now() - t0 }
    },

    async provide (cmd) {
      if (dht == null) throw new Error('DHT is off (start with --dht server|client)')
      const cid = parseCid(cmd.cid)
      const sentTo = new Set()
      const errors = []
      const signal = timeoutSignal(cmd, 30000)
      for await (const ev of dht.provide(cid, { signal })) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageType === MessageType.ADD_PROVIDER) sentTo.add(ev.from.toString())
        if (ev.name === 'QUERY_ERROR') errors.push(`${ev.from}: ${ev.error?.message}`)
      }
      if (sentTo.size === 0) throw new Error(`provider record not sent to any peer${errors.length > 0 ? ' (' + errors.join('; ') + ')' : ''}`)
      return { ok: true, sentTo: [...sentTo] }
    },

    async dial (cmd) {
      if (typeof cmd.addr !== 'string') throw new Error('addr required')
      const ma = multiaddr(cmd.addr)
      const signal = timeoutSignal(cmd, 15000)
      // wait for identify so the answer can report what the remote announced
      // (and so protocol topologies such as bitswap/kad have run)
      const remote = parsePeer(cmd.addr)
      const identified = new Promise((resolve) => {
        const onId = (evt) => {
          if (evt.detail.peerId.equals(remote)) {
            libp2p.removeEventListener('peer:identify', onId)
            resolve(true)
          }
        }
        libp2p.addEventListener('peer:identify', onId)
        signal.addEventListener('abort', () => { libp2p.removeEventListener('peer:identify', onId); resolve(false) })
      })
      const conn = await libp2p.dial(ma, { signal })
      const ok = await Promise.race([identified, new Promise(resolve => setTimeout(() => resolve(false), 5000))])
      const res = { ok: true, peer: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString(), identified: ok }
      if (ok) Object.assign(res, await peerInfo(conn.remotePeer))
      return res
    },

    async cat (cmd) {
      const cid = parseCid(cmd.cid)
      if (typeof cmd.out !== 'string') throw new Error('out required')
      const signal = timeoutSignal(cmd, 60000)
      const t0 = Date.now()
      let bytes = 0
      const source = cmd.session === true
        ? unixfs({ blockstore: helia.blockstore.createSession(cid, { signal }) }).cat(cid, { signal })
        : fs.cat(cid, { signal })
      await pipeline(async function * () {
        for await (const chunk of source) {
          bytes += chunk.byteLength
          yield chunk
        }
      }, createWriteStream(cmd.out))
      return { ok: true, bytes, ms: Date.now() - t0 }
    },

    async get (cmd) {
      // one raw block (no UnixFS decoding) via bitswap
      const cid = parseCid(cmd.cid)
      if (typeof cmd.out !== 'string') throw new Error('out required')
      const signal = timeoutSignal(cmd, 60000)
      const t0 = Date.now()
      let bytes = 0
      await pipeline(async function * () {
        for await (const chunk of helia.blockstore.get(cid, { signal })) {
          bytes += chunk.byteLength
          yield chunk
        }
      }, createWriteStream(cmd.out))
      return { ok: true, bytes, ms: Date.now() - t0 }
    },

    async has (cmd) {
      const cid = parseCid(cmd.cid)
      return { has: await helia.blockstore.has(cid) }
    },

    async findprovs (cmd) {
      if (dht == null) throw new Error('DHT is off (start with --dht server|client)')
      const cid = parseCid(cmd.cid)
      const signal = timeoutSignal(cmd, 30000)
      const max = Number.isFinite(cmd.max) ? cmd.max : 20
      const providers = new Map() // provider id -> addrs
      const via = new Map() // provider id -> peers whose answer listed it ("self": local record)
      const note = (prov, from) => {
        const id = prov.id.toString()
        providers.set(id, [...new Set([...(providers.get(id) ?? []), ...prov.multiaddrs.map(String)])])
        if (!via.has(id)) via.set(id, new Set())
        via.get(id).add(from)
      }
      const self = libp2p.peerId.toString()
      try {
        for await (const ev of dht.findProviders(cid, { signal })) {
          if (ev.name === 'PEER_RESPONSE' && ev.messageType === MessageType.GET_PROVIDERS) {
            for (const p of ev.providers) note(p, ev.from.toString())
          } else if (ev.name === 'PROVIDER' && ev.from.toString() === self) {
            for (const p of ev.providers) note(p, 'self')
          }
          if (providers.size >= max) break
        }
      } catch (err) {
        if (providers.size === 0) throw err
      }
      return {
        providers: [...providers.keys()],
        addrs: Object.fromEntries(providers),
        via: Object.fromEntries([...via].map(([k, v]) => [k, [...v]]))
      }
    },

    async ipnspublish (cmd) {
      // publishes cmd.value (/ipfs/… or /ipns/…) under the keychain key cmd.key (made if missing)
      if (typeof cmd.key !== 'string' || typeof cmd.value !== 'string') throw new Error('key and value required')
      const signal = timeoutSignal(cmd, 30000)
      const r = await names.publish(cmd.key, cmd.value, { signal, ...(Number.isFinite(cmd.lifetimeMs) ? { lifetime: cmd.lifetimeMs } : {}) })
      return { name: r.publicKey.toCID().toString(base36), sequence: String(r.record.sequence), value: text(r.record.value) }
    },

    async ipnsresolve (cmd) {
      // resolves cmd.name (k51…) through the DHT, without Helia's cache
      if (typeof cmd.name !== 'string') throw new Error('name required')
      const signal = timeoutSignal(cmd, 30000)
      let last = null
      for await (const r of names.resolve(CID.parse(cmd.name, base36), { signal, nocache: true })) last = r
      if (last == null) throw new Error('nothing resolved')
      return { value: text(last.record.value), sequence: String(last.record.sequence), cid: last.cid?.toString() ?? null }
    },

    async peers () {
      return { peers: [...new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))] }
    },

    async identify (cmd) {
      // what the remote told us over identify (from the peer store)
      return peerInfo(parsePeer(cmd.peer))
    },

    async routingtable () {
      if (dht == null) throw new Error('DHT is off')
      const peers = []
      for (const contact of dht.routingTable.kb?.toIterable() ?? []) peers.push(contact.peerId.toString())
      return { size: dht.routingTable.size, peers }
    },

    async wantlist () {
      const bs = helia.blockBrokers.find(b => b.name === 'bitswap')
      return { wants: (bs?.bitswap?.getWantlist() ?? []).map(w => ({ cid: w.cid.toString(), priority: w.priority, wantType: w.wantType })) }
    },

    async peerwants (cmd) {
      // What a remote peer currently wants from us: the wantlist our Bitswap
      // server keeps for it. Public API Bitswap.getPeerWantlist(peerId)
      // (@helia/bitswap bitswap.js) -> PeerWantLists.wantListForPeer
      // (peer-want-lists/index.js): the peer's Ledger after
      // removeExpiredWants(). A want leaves it on CANCEL, on a full wantlist
      // without it, 5 s after its block was sent (expires), or with the whole
      // ledger when the peer disconnects. undefined (no ledger: the peer never
      // sent us a Bitswap message, or disconnected) is answered as
      // known:false with an empty list, so callers can tell it from a ledger
      // that was emptied by CANCELs.
      const peer = parsePeer(cmd.peer)
      const bitswap = helia.blockBrokers.find(b => b.name === 'bitswap')?.bitswap
      if (typeof bitswap?.getPeerWantlist !== 'function') throw new Error('@helia/bitswap has no getPeerWantlist')
      const list = bitswap.getPeerWantlist(peer)
      const wants = (list ?? []).map(w => ({
        cid: w.cid.toString(),
        wantType: w.wantType, // 'WantBlock' | 'WantHave'
        priority: w.priority,
        sendDontHave: w.sendDontHave === true,
        status: w.status
      }))
      return { cids: wants.map(w => w.cid), wants, known: list != null }
    },

    async stop () {
      return { ok: true }
    }
  }

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of rl) {
    if (line.trim() === '') continue
    let cmd
    let res
    try {
      cmd = JSON.parse(line)
      const h = handlers[cmd?.cmd]
      if (h == null) throw new Error(`unknown cmd ${JSON.stringify(cmd?.cmd)}`)
      res = await h(cmd)
    } catch (err) {
      res = { error: `${err.name ?? 'Error'}: ${err.message}` }
    }
    if (cmd?.id !== undefined) res = { id: cmd.id, ...res }
    out(res)
    if (cmd?.cmd === 'stop') {
      await shutdown(0)
    }
  }
  await shutdown(0)
}

process.on('SIGINT', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))

main().catch((err) => {
  out({ event: 'fatal', error: err.stack ?? String(err) })
  process.exit(1)
})
