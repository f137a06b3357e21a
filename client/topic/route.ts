import type { LoadReport, ModelLoad } from '../../shared/messages.ts'

/** A daemon as routing sees it. */
export interface Candidate {
  id: string
  load: LoadReport | null
  /** This client's streams started there since its last announcement, less those the announcement counted that have ended since. */
  unannounced: number
  /** This client already has the model loaded there (its id on that daemon). */
  placed: boolean
}

/** What a call needs: a model by source (and hash, when known); nothing for ping or status. */
export interface Want {
  source?: string
  sha256?: string
}

export interface Choice<C extends Candidate> {
  candidate: C
  /** Why, in a few words: shown in results, trailers and profiling events. */
  reason: string
}

/**
 * The routing rule of a client over a topic: a daemon that has the model loaded and the most
 * free sequences; else the least-loaded daemon that will load it; else the shortest queue.
 * Ties (and daemons not heard from yet) are broken by power of two choices: two drawn at random,
 * the less loaded of them wins.
 */
export function choose<C extends Candidate>(candidates: C[], want: Want, random: () => number = Math.random): Choice<C> | null {
  if (candidates.length === 0) return null
  if (candidates.length === 1) return { candidate: candidates[0], reason: 'only daemon' }
  if (want.source === undefined) {
    const best = least(candidates, busyness)
    return { candidate: twoChoices(best, busyness, random), reason: `least loaded (${busyness(best[0])} streams)` }
  }
  const holding = candidates.filter((c) => c.placed || modelOf(c, want) !== undefined)
  const withFree = holding.filter((c) => free(c, want) > 0)
  if (withFree.length > 0) {
    const best = least(withFree, (c) => -free(c, want))
    return { candidate: twoChoices(best, busyness, random), reason: `model loaded, ${free(best[0], want)} of ${sequences(best[0], want)} sequences free` }
  }
  const others = candidates.filter((c) => !holding.includes(c))
  const idle = least(others, busyness)
  if (idle.length > 0 && (holding.length === 0 || busyness(idle[0]) === 0)) {
    return { candidate: twoChoices(idle, busyness, random), reason: `least loaded (${busyness(idle[0])} streams), will load the model` }
  }
  const queued = least(holding, (c) => -free(c, want))
  return { candidate: twoChoices(queued, busyness, random), reason: `model loaded, shortest queue (${-free(queued[0], want)} waiting)` }
}

/** Streams open on the daemon as far as this client knows. */
export function busyness(c: Candidate): number {
  return (c.load?.openStreams ?? 0) + c.unannounced
}

function modelOf(c: Candidate, want: Want): ModelLoad | undefined {
  return c.load?.models.find((m) => (want.sha256 && m.sha256 === want.sha256) || m.source === want.source)
}

/** Free sequences for the model (negative: streams waiting); unknown counts as one free. */
function free(c: Candidate, want: Want): number {
  const m = modelOf(c, want)
  return (m ? m.sequences - m.busy - m.queued : 1) - c.unannounced
}

function sequences(c: Candidate, want: Want): number {
  return modelOf(c, want)?.sequences ?? 1
}

/** The candidates sharing the lowest score. */
function least<C>(items: C[], score: (c: C) => number): C[] {
  let best: C[] = []
  let low = Infinity
  for (const item of items) {
    const s = score(item)
    if (s < low) {
      low = s
      best = [item]
    } else if (s === low) best.push(item)
  }
  return best
}

/** Power of two choices among equals: two at random, the less loaded (a coin when equal). */
function twoChoices<C extends Candidate>(tied: C[], score: (c: C) => number, random: () => number): C {
  if (tied.length === 1) return tied[0]
  const a = Math.floor(random() * tied.length)
  const b = (a + 1 + Math.floor(random() * (tied.length - 1))) % tied.length
  return score(tied[b]) < score(tied[a]) ? tied[b] : tied[a]
}
