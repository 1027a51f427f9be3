// Node 20 lacks Promise.withResolvers (added in Node 22); the pinned libp2p
// stack (it-queue, @libp2p/utils, yamux, ...) calls it at runtime.
// node.mjs imports this module first so it is in place before any of them run.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new this((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}
