/**
 * The floor the platform allows: a bare Fastify + LMDB handler doing the same work as a Gossamer
 * single node's /v1/kv routes (raw body in, LMDB commit fsynced before the reply, as Gossamer's
 * `sync` durability does with `overlappingSync: false`; raw bytes out), with none of Gossamer's
 * versioning, validation, metrics or logging. The single-node benchmark measures Gossamer
 * against this in the same run.
 *
 * Usage: node --import tsx bench/bare-server.ts <data-dir>
 * Prints {"event":"listening","http":"http://127.0.0.1:PORT"} on stdout.
 */
import Fastify from 'fastify'
import { open } from 'lmdb'

const dataDir = process.argv[2]
if (dataDir === undefined) throw new Error('usage: bare-server.ts <data-dir>')

const db = open<Buffer, string>({
  path: dataDir,
  encoding: 'binary',
  noSync: false,
  overlappingSync: false,
})
const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

app.get<{ Params: { '*': string } }>('/v1/kv/*', async (req, reply) => {
  const value = db.get(req.params['*'])
  if (value === undefined) return reply.code(404).send({ error: 'not found' })
  return reply.type('application/octet-stream').send(value)
})
app.put<{ Params: { '*': string }; Body: Buffer }>('/v1/kv/*', async (req) => {
  await db.put(req.params['*'], req.body)
  return { ok: true }
})

const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`${JSON.stringify({ event: 'listening', http: address })}\n`)
const stop = async () => {
  await app.close()
  await db.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
