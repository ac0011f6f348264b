/**
 * Coalesces the frames written to one socket during one turn of the event loop into a single
 * `writev` system call (architecture §7; docs/performance.md). The first write of a turn corks
 * the socket and schedules `uncork` for the end of the turn (`setImmediate`: after the I/O
 * callbacks of this turn, so replies produced by several incoming frames and their promise
 * continuations all share the flush); later writes of the turn only queue. With
 * `setNoDelay(true)` each uncorked flush leaves at once, so a frame waits at most for the rest
 * of the turn that produced it.
 *
 * Backpressure is unchanged: `write` returns what `socket.write` returns (false once the
 * socket's buffer is over its high-water mark, corked or not), and 'drain' follows as usual.
 */
import type { Socket } from 'node:net'

/** Writes frames to one socket, one flush per event-loop turn. */
export class CoalescingWriter {
  readonly #socket: Socket
  #isCorked = false
  /** Flushes so far (one per turn with writes). */
  flushes = 0
  /** Frames written so far. */
  frames = 0

  constructor(socket: Socket) {
    this.#socket = socket
  }

  /** Queues `bytes` for this turn's flush; false when the caller should wait for 'drain'. */
  write(bytes: Uint8Array): boolean {
    if (!this.#isCorked) {
      this.#isCorked = true
      this.#socket.cork()
      setImmediate(uncork, this)
    }
    this.frames++
    return this.#socket.write(bytes)
  }

  /** Flushes now (called at the end of the turn). */
  flush(): void {
    if (!this.#isCorked) return
    this.#isCorked = false
    this.flushes++
    // cork() nests: one uncork per cork.
    this.#socket.uncork()
  }
}

function uncork(writer: CoalescingWriter): void {
  writer.flush()
}
