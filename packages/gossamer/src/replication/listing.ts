/**
 * Cluster-wide listing (architecture §6; docs/cluster.md "Listing keys"): one page of the live
 * keys under a prefix, merged from ordered pages of several nodes' local stores.
 *
 * With N below the number of owners no node holds every key, so a coordinator asks every
 * reachable node for its records in key order (tombstones included) and merges them: for each
 * key the newest version wins, and a key whose newest record is a tombstone (or expired) is
 * left out. A key is emitted only once every source still streaming has reported past it (the
 * *frontier*: the lowest resume point among the sources that have more), so a page never skips
 * a key a slower source has not sent yet. When the frontier passes the prefix, or every source
 * is exhausted, the listing is complete. The caller decides which sources are enough (every
 * partition must have `r` of its replicas among them) and drives the rounds; this core only
 * merges.
 *
 * Bounds: each round asks each lagging source for at most `pageLimit` records; the caller
 * bounds the number of rounds.
 */
import { compareVersions } from '../hlc/version.ts'
import type { StoredRecord } from '../storage/engine.ts'
import { compareKeys } from '../storage/keys.ts'
import { isLive } from '../storage/record-rules.ts'

/** One page of a source's local records in key order (tombstones and expired included). */
export interface SourcePage {
  readonly entries: ReadonlyArray<{ readonly key: string; readonly record: StoredRecord }>
  /** Every key up to here has been reported; absent: the source has nothing more. */
  readonly cursor?: string | undefined
}

/** What a listing page answers. */
export interface ListingPage {
  readonly entries: ReadonlyArray<{ readonly key: string; readonly record: StoredRecord }>
  /** Present when more keys may follow: resume strictly after it. */
  readonly cursor?: string | undefined
}

interface SourceState {
  /** Resume strictly after this key; undefined = from the start of the range. */
  resumeAfter: string | undefined
  exhausted: boolean
}

/** Merges sources' ordered pages into one listing page. Create one per listed page. */
export class ListingMerge {
  readonly #prefix: string
  readonly #limit: number
  readonly #nowMs: number
  readonly #isUsable: (record: StoredRecord) => boolean
  readonly #sources = new Map<string, SourceState>()
  readonly #newest = new Map<string, StoredRecord>()
  readonly #out: Array<{ key: string; record: StoredRecord }> = []
  readonly #start: string | undefined
  #done = false
  #cursor: string | undefined

  constructor(input: {
    readonly sources: readonly string[]
    readonly prefix: string
    /** Resume strictly after this key (the previous page's cursor). */
    readonly after: string | undefined
    readonly limit: number
    readonly nowMs: number
    /** False for a record the caller must ignore (e.g. a version from too far in the future). */
    readonly isUsable?: ((record: StoredRecord) => boolean) | undefined
  }) {
    this.#prefix = input.prefix
    this.#limit = Math.max(1, input.limit)
    this.#nowMs = input.nowMs
    this.#isUsable = input.isUsable ?? (() => true)
    // Every key under the prefix is >= the prefix, so a scan may start right after it (the key
    // equal to the prefix itself is the caller's to fetch: see `startAfter`).
    const start = startAfter(input.prefix, input.after)
    this.#start = start
    for (const node of input.sources) {
      this.#sources.set(node, { resumeAfter: start, exhausted: false })
    }
    if (this.#sources.size === 0) this.#done = true
  }

  /** True when the page is complete (`result()` answers). */
  get isDone(): boolean {
    return this.#done
  }

  /** Sources to ask next, each with the key to resume after (the ones holding the frontier). */
  wanted(): Array<{ node: string; after: string | undefined }> {
    if (this.#done) return []
    const frontier = this.#frontier()
    const out: Array<{ node: string; after: string | undefined }> = []
    for (const [node, state] of this.#sources) {
      if (state.exhausted) continue
      if (frontier === undefined || state.resumeAfter === frontier.key) {
        out.push({ node, after: state.resumeAfter })
      }
    }
    return out
  }

  /** Adds a record the caller fetched another way (the key equal to the prefix). */
  offer(key: string, record: StoredRecord): void {
    if (!key.startsWith(this.#prefix) || !this.#isUsable(record)) return
    const seen = this.#newest.get(key)
    if (seen === undefined || compareVersions(record.version, seen.version) > 0) {
      this.#newest.set(key, record)
    }
  }

  /** A source's page arrived. */
  onPage(node: string, page: SourcePage): void {
    const state = this.#sources.get(node)
    if (state === undefined || state.exhausted || this.#done) return
    for (const { key, record } of page.entries) {
      if (state.resumeAfter !== undefined && compareKeys(key, state.resumeAfter) <= 0) continue
      this.offer(key, record)
    }
    const cursor = page.cursor
    if (
      cursor === undefined ||
      (state.resumeAfter !== undefined && compareKeys(cursor, state.resumeAfter) <= 0)
    ) {
      // No cursor, or one that does not advance (a misbehaving peer): nothing more from it.
      state.exhausted = true
    } else {
      state.resumeAfter = cursor
      // Past the prefix: nothing more under it from this source.
      if (!cursor.startsWith(this.#prefix) && compareKeys(cursor, this.#prefix) > 0) {
        state.exhausted = true
      }
    }
  }

  /** A source failed: it no longer holds the frontier back (the caller re-checks coverage). */
  onFailure(node: string): void {
    this.#sources.delete(node)
  }

  /** Names of the sources still taking part (answered so far, not failed). */
  get sources(): string[] {
    return [...this.#sources.keys()]
  }

  /**
   * Emits every merged key up to the frontier (live ones only) and decides whether the page is
   * complete. Call after each round of pages.
   */
  advance(): void {
    if (this.#done) return
    const frontier = this.#frontier()
    const bound = frontier?.key
    if (frontier !== undefined && bound === undefined) return // nothing reported past the start
    const ready = [...this.#newest.keys()]
      .filter((key) => bound === undefined || compareKeys(key, bound) <= 0)
      .sort(compareKeys)
    for (const key of ready) {
      const record = this.#newest.get(key)!
      this.#newest.delete(key)
      if (!isLive(record, this.#nowMs)) continue
      this.#out.push({ key, record })
      if (this.#out.length >= this.#limit) {
        this.#done = true
        this.#cursor = key
        return
      }
    }
    if (frontier === undefined) this.#done = true
  }

  /**
   * Ends the page early (the caller's round bound): what was emitted, with the frontier as the
   * cursor so the next page resumes where this one stopped. False when no progress at all was
   * made (no cursor to give; the caller fails the request).
   */
  stop(): boolean {
    if (this.#done) return true
    const resume = this.#frontier()?.key ?? this.#out.at(-1)?.key
    const advanced =
      resume !== undefined && (this.#start === undefined || compareKeys(resume, this.#start) > 0)
    if (!advanced) return false
    this.#done = true
    this.#cursor = resume
    return true
  }

  /** The page: live records in key order and the cursor. */
  result(): ListingPage {
    return this.#cursor === undefined
      ? { entries: [...this.#out] }
      : { entries: [...this.#out], cursor: this.#cursor }
  }

  // The lowest resume point of the sources that have more (`key` undefined: one of them has not
  // reported anything yet, so nothing is ready); undefined when no source has more.
  #frontier(): { key: string | undefined } | undefined {
    let lowest: string | undefined
    let any = false
    for (const state of this.#sources.values()) {
      if (state.exhausted) continue
      if (state.resumeAfter === undefined) return { key: undefined }
      if (!any || compareKeys(state.resumeAfter, lowest!) < 0) lowest = state.resumeAfter
      any = true
    }
    return any ? { key: lowest } : undefined
  }
}

/**
 * Where a listing's source scans start: strictly after the cursor, or — on a first page under a
 * non-empty prefix — strictly after the prefix itself (the key equal to the prefix is read
 * separately, since no key sorts just below it).
 */
export function startAfter(prefix: string, after: string | undefined): string | undefined {
  if (after !== undefined && compareKeys(after, prefix) >= 0) return after
  return prefix === '' ? undefined : prefix
}

/** True when the caller must fetch the key equal to the prefix itself. */
export function needsPrefixKey(prefix: string, after: string | undefined): boolean {
  return prefix !== '' && (after === undefined || compareKeys(after, prefix) < 0)
}
