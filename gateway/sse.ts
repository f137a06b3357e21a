import type { ServerResponse } from 'node:http'

/**
 * Server-Sent Events onto one response: each `data:` frame is written as it comes (no buffering
 * here; Nagle is off on the socket), and `send` resolves only when the socket took it, so a slow
 * reader holds back the daemon through the stream's credits.
 */
export class SseWriter {
  private readonly res: ServerResponse

  constructor(res: ServerResponse) {
    this.res = res
  }

  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded
  }

  /** The status line and headers: they leave with the first frame, in the same packet. */
  start(headers: Record<string, string>): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...headers
    })
  }

  send(value: unknown): Promise<void> | null {
    return this.write(`data: ${JSON.stringify(value)}\n\n`)
  }

  /** A comment line: ignored by SSE parsers, read by people and tools (the timings). */
  comment(text: string): Promise<void> | null {
    return this.write(`: ${text.replace(/\n/g, ' ')}\n\n`)
  }

  end(): void {
    if (this.open) this.res.end('data: [DONE]\n\n')
  }

  /** A whole frame, already serialized (`data: …` and its blank line). */
  write(frame: string): Promise<void> | null {
    if (!this.open) return null
    if (this.res.write(frame)) return null
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done)
        this.res.off('close', done)
        resolve()
      }
      this.res.on('drain', done)
      this.res.on('close', done)
    })
  }
}
