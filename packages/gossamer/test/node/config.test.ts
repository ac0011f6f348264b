// Goal: configuration layers apply in the documented order (defaults < file < env < flags),
// values from text are coerced, and every problem is reported at once. Method: table tests.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  configFromEnv,
  defaultNodeConfig,
  envVarName,
  loadNodeConfig,
  resolveNodeConfig,
} from '../../src/config.ts'
import { GossamerError } from '../../src/errors.ts'

test('defaults match the documented ones', () => {
  const config = resolveNodeConfig()
  assert.equal(config.bind, '127.0.0.1')
  assert.equal(config.httpPort, 8080)
  assert.equal(config.dataDir, './gossamer-data')
  assert.equal(config.inMemory, false)
  assert.equal(config.maxKeyBytes, 1024)
  assert.equal(config.maxValueBytes, 1048576)
  assert.equal(config.durability, 'sync')
  assert.match(config.name, /^[A-Za-z0-9][A-Za-z0-9._-]*$/)
  assert.ok(Object.isFrozen(config))
})

test('env variable names are GOSSAMER_ plus the field in upper snake case', () => {
  assert.equal(envVarName('httpPort'), 'GOSSAMER_HTTP_PORT')
  assert.equal(envVarName('dataDir'), 'GOSSAMER_DATA_DIR')
  assert.equal(envVarName('inMemory'), 'GOSSAMER_IN_MEMORY')
  assert.equal(envVarName('maxClockSkewMs'), 'GOSSAMER_MAX_CLOCK_SKEW_MS')
})

test('layers apply in order: defaults < config file < environment < flags', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-config-'))
  try {
    const file = join(dir, 'config.json')
    await writeFile(file, JSON.stringify({ name: 'from-file', httpPort: 1111, bind: '0.0.0.0' }))
    const config = await loadNodeConfig({
      configPath: file,
      env: { GOSSAMER_HTTP_PORT: '2222', GOSSAMER_NAME: 'from-env', GOSSAMER_IN_MEMORY: 'true' },
      flags: { name: 'from-flag' },
    })
    assert.equal(config.name, 'from-flag')
    assert.equal(config.httpPort, 2222)
    assert.equal(config.bind, '0.0.0.0')
    assert.equal(config.inMemory, true)
    assert.equal(config.dataDir, defaultNodeConfig().dataDir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('GOSSAMER_CONFIG names the config file when no --config is given', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-config-'))
  try {
    const file = join(dir, 'c.json')
    await writeFile(file, JSON.stringify({ logLevel: 'debug' }))
    const config = await loadNodeConfig({ env: { GOSSAMER_CONFIG: file }, flags: {} })
    assert.equal(config.logLevel, 'debug')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('every invalid field is reported in one CONFIG_INVALID error', () => {
  assert.throws(
    () =>
      resolveNodeConfig(
        { source: 'file', values: { httpPort: -1, color: 'blue' } },
        configFromEnv({ GOSSAMER_IN_MEMORY: 'perhaps', GOSSAMER_DURABILITY: 'fast' }),
        { source: 'flags', values: { name: 'bad name!' } },
      ),
    (error: unknown) => {
      assert.ok(error instanceof GossamerError)
      assert.equal(error.code, 'GOSSAMER_ERR_CONFIG_INVALID')
      for (const word of [
        'httpPort',
        'unknown setting "color"',
        'inMemory',
        'durability',
        'name',
      ]) {
        assert.ok(error.message.includes(word), `message mentions ${word}: ${error.message}`)
      }
      return true
    },
  )
})

test('an unreadable or non-object config file is CONFIG_INVALID', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-config-'))
  try {
    const bad = join(dir, 'bad.json')
    await writeFile(bad, '[1,2]')
    for (const configPath of [join(dir, 'missing.json'), bad]) {
      await assert.rejects(loadNodeConfig({ configPath, env: {}, flags: {} }), {
        code: 'GOSSAMER_ERR_CONFIG_INVALID',
      })
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('text values are coerced: integers, booleans and port 0', () => {
  const config = resolveNodeConfig({
    source: 'flags',
    values: { httpPort: '0', inMemory: 'yes', maxValueBytes: '2048' },
  })
  assert.equal(config.httpPort, 0)
  assert.equal(config.inMemory, true)
  assert.equal(config.maxValueBytes, 2048)
})
