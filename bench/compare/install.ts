/**
 * Makes sure the comparison peers are installed: etcd (server and etcdctl) and Redis (server,
 * redis-cli, redis-benchmark) from the distribution's packages. On Debian 12 these are
 * `etcd-server`/`etcd-client` 3.4.23 and `redis-server`/`redis-tools` 7.0.15. Installs with
 * apt-get when a binary is missing and we are root (or have passwordless sudo); otherwise says what
 * to install. Package post-install scripts may try to start the distribution's own services; the
 * harness never uses them (it runs its own servers on free loopback ports with temp data dirs).
 */
import { runCommand } from './processes.ts'

/** Binaries the harness runs, and the Debian package that provides each. */
const BINARIES: readonly { bin: string; pkg: string }[] = [
  { bin: 'etcd', pkg: 'etcd-server' },
  { bin: 'etcdctl', pkg: 'etcd-client' },
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'redis-cli', pkg: 'redis-tools' },
  { bin: 'redis-benchmark', pkg: 'redis-tools' },
]

async function has(bin: string): Promise<boolean> {
  const { code } = await runCommand('sh', ['-c', `command -v ${bin}`], { timeoutMs: 10_000 })
  return code === 0
}

/** Installs missing peers; resolves with the list of binaries still missing afterwards. */
export async function ensurePeers(log: (line: string) => void): Promise<string[]> {
  const missing = []
  for (const b of BINARIES) if (!(await has(b.bin))) missing.push(b)
  if (missing.length === 0) return []
  const pkgs = [...new Set(missing.map((b) => b.pkg))]
  if (process.env.BENCH_NO_INSTALL === '1') {
    log(`missing ${missing.map((b) => b.bin).join(', ')}; BENCH_NO_INSTALL=1, not installing`)
  } else {
    const root = process.getuid?.() === 0
    const aptCommand = root ? ['apt-get'] : ['sudo', '-n', 'apt-get']
    if (!root && !(await has('sudo'))) {
      log(`missing ${pkgs.join(' ')} and not root: run  apt-get install -y ${pkgs.join(' ')}`)
    } else {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
      log(`installing ${pkgs.join(' ')} with apt-get`)
      const aptGet = (args: string[]) =>
        runCommand(aptCommand[0]!, [...aptCommand.slice(1), ...args], { env })
      const update = await aptGet(['update'])
      if (update.code !== 0) log(`apt-get update failed: ${update.stderr.trim().slice(-500)}`)
      const install = await aptGet(['install', '-y', '--no-install-recommends', ...pkgs])
      if (install.code !== 0) log(`apt-get install failed: ${install.stderr.trim().slice(-500)}`)
    }
  }
  const still = []
  for (const b of missing) if (!(await has(b.bin))) still.push(b.bin)
  return still
}

/** First line of `<bin> --version`, or "unknown". */
export async function versionOf(bin: string): Promise<string> {
  const { stdout } = await runCommand(bin, ['--version'], { timeoutMs: 10_000 }).catch(() => ({
    stdout: 'unknown',
  }))
  return stdout.split('\n')[0]!.trim()
}
