import c, { type Encoder as Encoding } from 'compact-encoding'
import { streamChunk, type StreamChunk } from '../shared/messages.ts'

/** The bare protomux-rpc channel the rpc scenario opens beside qvac/rpc. */
export const ECHO_PROTOCOL = 'qvacd-bench/echo'

export interface GenerateRequest {
  prompt: string
  maxTokens: number
}

const generateRequest: Encoding<GenerateRequest> = {
  preencode(state, m) {
    c.string.preencode(state, m.prompt)
    c.uint.preencode(state, m.maxTokens)
  },
  encode(state, m) {
    c.string.encode(state, m.prompt)
    c.uint.encode(state, m.maxTokens)
  },
  decode(state) {
    return { prompt: c.string.decode(state), maxTokens: c.uint.decode(state) }
  }
}

/**
 * The gRPC peer's one server-streaming method, defined in code for grpc-js's generic API. Chunks
 * are qvacd's own `infer.chunk` codec, so both transports carry the same bytes per chunk.
 */
export const tokenStreamService = {
  generate: {
    path: '/qvacd.bench.TokenStream/Generate',
    requestStream: false,
    responseStream: true,
    requestSerialize: (value: GenerateRequest) => Buffer.from(c.encode(generateRequest, value)),
    requestDeserialize: (bytes: Buffer): GenerateRequest => c.decode(generateRequest, bytes),
    responseSerialize: (chunk: StreamChunk) => Buffer.from(c.encode(streamChunk, chunk)),
    responseDeserialize: (bytes: Buffer): StreamChunk => c.decode(streamChunk, bytes)
  }
}
