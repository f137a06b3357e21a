import test from 'brittle'
import { SequencePool } from '../daemon/inference/sequence-pool.ts'
import { QvacError } from '../shared/errors.ts'

const live = () => new AbortController().signal

test('sequence pool: a stream gets the lowest free sequence, so concurrent streams keep to 0..N-1', async (t) => {
  const pool = new SequencePool([0, 1, 2, 3], 2)
  const a = await pool.acquire(live())
  const b = await pool.acquire(live())
  const c = await pool.acquire(live())
  t.alike([a.item, b.item, c.item], [0, 1, 2])
  b.release()
  a.release()
  t.is((await pool.acquire(live())).item, 0, 'the lowest free, not the first released')
  t.is((await pool.acquire(live())).item, 1)
  t.is((await pool.acquire(live())).item, 3)
  t.is(pool.active, 4)
  c.release()
  c.release()
  t.is(pool.active, 3, 'a second release of one lease frees nothing more')
})

test('sequence pool: waiters get sequences in arrival order, past the queue depth is QUEUE_FULL, drain waits for leases', async (t) => {
  const pool = new SequencePool(['s0'], 1)
  const held = await pool.acquire(live())
  const waiting = pool.acquire(live())
  const full = await pool.acquire(live()).catch((err: unknown) => err)
  t.ok(full instanceof QvacError && full.name === 'QUEUE_FULL', 'one more than the queue depth is QUEUE_FULL')
  held.release()
  const next = await waiting
  t.is(next.item, 's0', 'the released sequence goes to the first waiter')
  let drained = false
  const draining = pool.drain(new Error('stopping')).then(() => (drained = true))
  await new Promise((resolve) => setImmediate(resolve))
  t.absent(drained, 'drain waits while a lease is out')
  next.release()
  await draining
  t.is(pool.active, 0)
})
