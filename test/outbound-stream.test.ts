import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import test, { type Assertion } from 'brittle'
import c from 'compact-encoding'
import FramedStream from 'framed-stream'
import ProtomuxRPC from 'protomux-rpc'
import { OutboundStream } from '../daemon/stream/outbound-stream.ts'
import { streamChunk } from '../shared/messages.ts'

type Chunk = { seq: number; text: string; tokens: number[] }

/** An OutboundStream on one end of a real loopback TCP connection, and the frames the other end receives. */
async function streamPair(t: Assertion, frameMs: number): Promise<{ stream: OutboundStream; frames: Chunk[]; arrived: (n: number) => Promise<void> }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const [a, b] = [new FramedStream(socket), new FramedStream(await accepted)]
  const sender = new ProtomuxRPC(a, { protocol: 'test/frames' })
  const receiver = new ProtomuxRPC(b, { protocol: 'test/frames' })
  const frames: Chunk[] = []
  let waiter: (() => void) | null = null
  let wanted = 0
  receiver.respond('infer.chunk', { requestEncoding: c.raw }, (raw: Buffer) => {
    frames.push(c.decode(streamChunk, raw))
    if (waiter && frames.length >= wanted) waiter()
    return null
  })
  await new Promise((resolve) => sender.once('open', resolve))
  t.teardown(async () => {
    a.destroy()
    b.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const stream = new OutboundStream({ rpc: sender, streamId: 1, modelId: 'm', peer: null, window: 100, frameMs })
  const arrived = (n: number) =>
    frames.length >= n ? Promise.resolve() : new Promise<void>((resolve) => ((wanted = n), (waiter = resolve)))
  return { stream, frames, arrived }
}

const signal = new AbortController().signal

test('frames: the first token leaves at once; later ones wait for the timer or for a token frameMs after the last frame', async (t) => {
  const { stream, frames, arrived } = await streamPair(t, 40)
  stream.write('a', [1], signal)
  t.is(stream.framesSent, 1, 'the first token: a frame of its own, in the same turn')
  stream.write('b', [2], signal)
  stream.write('c', [3], signal)
  t.is(stream.framesSent, 1, 'tokens right after it wait')
  t.is(stream.bufferedTokens, 2)
  await arrived(2)
  t.alike(frames[1].tokens, [2, 3], 'the held tokens left together, by the timer (no later token came)')
  await sleep(50)
  stream.write('d', [4], signal)
  t.is(stream.bufferedTokens, 0, 'a token 40 ms or more after the last frame leaves at once')
  stream.write('e', [5], signal)
  t.is(stream.bufferedTokens, 1, 'the next one, right after, waits again')
  // No turn of the event loop until f: the timer cannot send e, so f finds it waiting.
  const until = performance.now() + 45
  while (performance.now() < until);
  stream.write('f', [6], signal)
  t.is(stream.bufferedTokens, 0, 'and leaves with the first token 40 ms after that frame')
  await arrived(stream.framesSent)
  t.alike(frames.map((f) => f.tokens), [[1], [2, 3], [4], [5, 6]], 'every token, in order')
  t.is(frames.map((f) => f.text).join(''), 'abcdef')
  t.alike(frames.map((f) => f.seq), frames.map((_, i) => i))
  stream.close()
})

test('frames: frameMs 0 sends every token in a frame of its own', async (t) => {
  const { stream, frames, arrived } = await streamPair(t, 0)
  for (let i = 0; i < 20; i++) stream.write('x', [i], signal)
  t.is(stream.framesSent, 20)
  await arrived(20)
  t.ok(frames.every((f, i) => f.tokens.length === 1 && f.tokens[0] === i))
  stream.close()
})

test("frames: a delegated stream's frames, framed by the provider already, leave as they came", async (t) => {
  const { stream, frames, arrived } = await streamPair(t, 60_000)
  stream.write('a', [1], signal, true)
  stream.write('bc', [2, 3], signal, true)
  stream.write('d', [4], signal, true)
  t.is(stream.framesSent, 3, 'none held')
  await arrived(3)
  t.alike(frames.map((f) => f.tokens), [[1], [2, 3], [4]])
  stream.close()
})

test('frames: end() sends what waits at once', async (t) => {
  const { stream, frames, arrived } = await streamPair(t, 60_000)
  stream.write('a', [1], signal)
  stream.write('b', [2], signal)
  stream.write('c', [3], signal)
  await stream.end(signal)
  t.is(stream.framesSent, 2)
  await arrived(2)
  t.alike(frames.map((f) => f.tokens), [[1], [2, 3]])
})
