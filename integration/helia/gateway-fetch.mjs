// @helia/verified-fetch against an HTTP gateway, for scenarios/helia-gateway.sh.
//
//   node gateway-fetch.mjs fetch GATEWAY_URL RESOURCE OUT [TIMEOUT_MS]
//     Fetches RESOURCE (ipfs://CID[/path]) with verified-fetch on a Helia
//     whose only block source is GATEWAY_URL's trustless gateway (?format=raw):
//     no libp2p, no delegated routers, no public gateways. The body is streamed
//     to OUT. One JSON line: {"ok":true,"status","bytes","sha256","blocks",
//     "requests"} or {"error"} (exit 1). `blocks` counts blocks the gateway
//     broker received (each is hash-checked before use); `requests` counts HTTP
//     requests made.
//   node gateway-fetch.mjs liar UPSTREAM_URL NTH
//     A gateway that proxies GET /ipfs/CID?format=raw to UPSTREAM_URL but, for
//     the NTH distinct CID asked (1-based; 0 = none), flips byte 0 of the block
//     it returns, every time that CID is asked. The CID prefix and status stay
//     right, so only hashing the bytes can tell. Prints
//     {"event":"ready","url"}; GET /_stats answers {"requests","cids","corrupted"}.
//
// Every fetch this process makes is refused unless it goes to 127.0.0.1,
// localhost or ::1: the test must never reach a public gateway.
import './polyfills.mjs' // must stay first: Node 20 lacks Promise.withResolvers
import { createHash } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { createWriteStream } from 'node:fs'
import { createServer } from 'node:http'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fallbackRouter } from '@helia/fallback-router'
import { withHTTP } from '@helia/http'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { createHeliaLight } from 'helia'

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])
const realFetch = globalThis.fetch
let requests = 0
globalThis.fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : input.toString())
  if (!LOOPBACK.has(url.hostname)) {
    throw new Error(`refused to fetch ${url}: only loopback addresses are allowed in tests`)
  }
  requests++
  return realFetch(input, init)
}

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// A router that names the gateway as the provider of every CID. Helia
// (routing.js, 7.1.15) asks its fallback routers only after the others, and
// with no other router findProviders never ends (its queue never goes idle),
// so the gateway is offered as a plain router, and as a plain provider
// (fallback: false), which a session drops after a bad block.
function gatewayRouter (url) {
  const fallback = fallbackRouter({ gateways: [url], shuffle: false })
  return {
    name: 'p2pfs-gateway',
    async * findProviders (cid, options) {
      for await (const p of fallback.findProviders(cid, options)) {
        yield { ...p, router: 'p2pfs-gateway', fallback: false }
      }
    }
  }
}

async function fetchCmd (gateway, resource, outPath, timeoutMs) {
  const helia = withHTTP(createHeliaLight({ routers: [gatewayRouter(gateway)] }), {
    delegatedRouters: [],
    recursiveGateways: [],
    allowInsecure: true, // http://127.0.0.1 is neither https nor public
    allowLocal: true
  })
  await helia.start()
  try {
    const vfetch = await createVerifiedFetchWithHelia(helia)
    let blocks = 0
    const signal = AbortSignal.timeout(timeoutMs)
    setMaxListeners(Infinity, signal) // one listener per block in flight; not a leak
    const onProgress = (evt) => {
      if (evt.type === 'helia:block-broker:receive-block') blocks++
    }
    const resp = await vfetch(resource, { signal, onProgress })
    if (!resp.ok || resp.body == null) {
      throw new Error(`verified-fetch answered ${resp.status} ${resp.statusText}: ${await resp.text()}`)
    }
    const hash = createHash('sha256')
    let bytes = 0
    const tap = new Transform({
      transform (chunk, _enc, cb) {
        hash.update(chunk)
        bytes += chunk.length
        cb(null, chunk)
      }
    })
    await pipeline(Readable.fromWeb(resp.body), tap, createWriteStream(outPath))
    out({ ok: true, status: resp.status, bytes, sha256: hash.digest('hex'), blocks, requests })
  } finally {
    await helia.stop()
  }
}

function liarCmd (upstream, nth) {
  const order = new Map() // CID -> 1-based order of first request
  const stats = { requests: 0, cids: 0, corrupted: [] }
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x')
      if (url.pathname === '/_stats') {
        res.setHeader('content-type', 'application/json')
        return res.end(JSON.stringify(stats))
      }
      stats.requests++
      const cid = url.pathname.startsWith('/ipfs/') ? url.pathname.slice(6).split('/')[0] : ''
      if (cid !== '' && !order.has(cid)) order.set(cid, order.size + 1)
      stats.cids = order.size
      const up = await realFetch(new URL(req.url, upstream), {
        headers: { accept: req.headers.accept ?? '*/*' }
      })
      let body = new Uint8Array(await up.arrayBuffer()) // one block, <= 2 MiB
      if (up.ok && order.get(cid) === nth) {
        body = body.slice() // a copy with byte 0 flipped (an empty block gets one 0xff)
        if (body.length === 0) body = new Uint8Array([0xff])
        else body[0] ^= 0xff
        if (!stats.corrupted.includes(cid)) stats.corrupted.push(cid)
      }
      res.statusCode = up.status
      const type = up.headers.get('content-type')
      if (type != null) res.setHeader('content-type', type)
      res.end(body)
    } catch (err) {
      res.statusCode = 502
      res.end(String(err))
    }
  })
  server.listen(0, '127.0.0.1', () => {
    out({ event: 'ready', url: `http://127.0.0.1:${server.address().port}` })
  })
  const stop = () => process.exit(0) // nothing to flush; don't wait for keep-alive sockets
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

const [cmd, ...args] = process.argv.slice(2)
try {
  if (cmd === 'fetch' && args.length >= 3) {
    await fetchCmd(args[0], args[1], args[2], Number(args[3] ?? 30000))
    process.exit(0)
  } else if (cmd === 'liar' && args.length === 2) {
    liarCmd(args[0], Number(args[1]))
  } else {
    throw new Error('usage: gateway-fetch.mjs fetch GATEWAY RESOURCE OUT [TIMEOUT_MS] | liar UPSTREAM NTH')
  }
} catch (err) {
  out({ error: `${err.name}: ${err.message}${err.errors ? ' (' + err.errors.map(e => e.message).join('; ') + ')' : ''}` })
  process.exit(1)
}
