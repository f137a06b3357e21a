/**
 * Writes a tiny, deterministic, random-weights llama-architecture GGUF (v3) model that node-llama-cpp
 * loads: the model of the tests, `npm start` and the benchmarks (no weights are ever downloaded).
 *
 * No dependencies beyond Node built-ins. Same options (incl. seed) → byte-identical file.
 *
 * Layout written (GGUF v3, little-endian):
 *   magic "GGUF" | u32 version=3 | u64 n_tensors | u64 n_kv
 *   n_kv × (gguf_string key, u32 value_type, value)
 *   n_tensors × (gguf_string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
 *   zero padding to `general.alignment`
 *   tensor data (each tensor starts at a multiple of the alignment, relative to the data section)
 *
 * GGUF dims: ne[0] is the fastest-varying (contiguous) dimension, so a "[embd, vocab]" tensor is
 * stored as `vocab` rows of `embd` floats each.
 *
 * "Bias dimension" trick (used to control EOS):
 *   Residual-stream dimension 0 is made constant: every token embedding has element 0 = +biasValue,
 *   and the rows of attn_output / ffn_down that write into dimension 0 are all zero, so no layer ever
 *   changes it. After the final RMS norm, dimension 0 is therefore always strictly positive. The output
 *   row of a token whose logit we want to control is zero except element 0 = k, which makes that token's
 *   logit = k * (positive number) regardless of the input: k << 0 suppresses it, k >> 0 forces it.
 *
 * EOS-after-N ("eos: N"): dimensions 1..N are reserved the same way (never written by any layer). Chain
 * token X_i has embedding dim i = +bias and all other tokens have 0 in dims 1..N, so the final hidden
 * state tells exactly which chain token (if any) was the last input. With c = the dim-0 value, output rows
 * give logits (in units of 100·c): X_1 = 1 − 3·[last ∈ chain], X_{i+1} = −1 + 3·[last = X_i],
 * EOS = −1 + 3·[last = X_N], everything else ≈ 0 ± small. Greedy therefore emits X_1 … X_N, then EOS.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { createHash } from 'node:crypto'

export type TinyWeightType = 'f32' | 'f16'

export interface TinyLlamaOptions {
  /** PRNG seed (uint32). Default 42. */
  seed?: number
  /** n_embd. Default 64. Must be divisible by `heads`. */
  embd?: number
  /** n_layer. Default 2. */
  layers?: number
  /** n_head. Default 4. */
  heads?: number
  /** n_head_kv (GQA). Default 2. Must divide `heads`. */
  headsKv?: number
  /** n_ff. Default 3 * embd. */
  ff?: number
  /** Vocabulary size. Default 512, minimum 354 (3 specials + 256 byte tokens + "▁" + 94 printable ASCII). */
  vocab?: number
  /** llama.context_length (training context). Default 512. */
  ctx?: number
  /** Storage type of the 2-D weight matrices (norms are always f32). Default "f32". */
  weightType?: TinyWeightType
  /** Uniform weight range ±scale. Default 0.1. */
  scale?: number
  /**
   * EOS behaviour:
   *  - "suppress" (default): EOS logit is always strongly negative → greedy never stops on EOS.
   *  - "early": EOS logit is always strongly positive → greedy emits EOS as the first generated token.
   *  - N (integer >= 1): greedy emits exactly N fixed word tokens (see `eosChain` in the result), then EOS,
   *    whatever the prompt (unless the prompt itself ends with one of those tokens).
   */
  eos?: 'suppress' | 'early' | number
  /** general.name. Default "qvacd-tiny-llama". */
  name?: string
}

export interface TinyGgufResult {
  path: string
  size: number
  sha256: string
  parameterCount: number
  tensorCount: number
  vocabSize: number
  bosTokenId: number
  eosTokenId: number
  unkTokenId: number
  /** For `eos: N`: the N token strings greedy decoding emits before EOS (SPM "▁" = space). */
  eosChain: string[]
  options: Required<TinyLlamaOptions>
}

// ---------------------------------------------------------------------------------------------
// GGUF constants

const GGUF_MAGIC = 0x46554747 // "GGUF" read as little-endian u32
const GGUF_VERSION = 3
const ALIGNMENT = 32

// GGUF metadata value types (plain object instead of an enum so the file is "erasable syntax only")
const GType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12
} as const
type GT = typeof GType

const GGML_TYPE_F32 = 0
const GGML_TYPE_F16 = 1
const LLAMA_FTYPE_ALL_F32 = 0
const LLAMA_FTYPE_MOSTLY_F16 = 1

// llama.cpp token types (tokenizer.ggml.token_type)
const TOK_NORMAL = 1,
  TOK_UNKNOWN = 2,
  TOK_CONTROL = 3,
  TOK_BYTE = 6

type KV =
  | { t: GT['STRING']; v: string }
  | { t: GT['UINT32']; v: number }
  | { t: GT['INT32']; v: number }
  | { t: GT['FLOAT32']; v: number }
  | { t: GT['BOOL']; v: boolean }
  | { t: GT['ARRAY']; of: GT['STRING']; v: string[] }
  | { t: GT['ARRAY']; of: GT['FLOAT32']; v: Float32Array }
  | { t: GT['ARRAY']; of: GT['INT32']; v: Int32Array }

// ---------------------------------------------------------------------------------------------
// Small byte writer for the header (metadata + tensor infos)

class ByteWriter {
  private buf = Buffer.alloc(1 << 16)
  length = 0
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.length + n) cap *= 2
    const nb = Buffer.alloc(cap)
    this.buf.copy(nb, 0, 0, this.length)
    this.buf = nb
  }
  u32(v: number) {
    this.ensure(4)
    this.buf.writeUInt32LE(v >>> 0, this.length)
    this.length += 4
  }
  i32(v: number) {
    this.ensure(4)
    this.buf.writeInt32LE(v | 0, this.length)
    this.length += 4
  }
  u64(v: number | bigint) {
    this.ensure(8)
    this.buf.writeBigUInt64LE(BigInt(v), this.length)
    this.length += 8
  }
  f32(v: number) {
    this.ensure(4)
    this.buf.writeFloatLE(v, this.length)
    this.length += 4
  }
  u8(v: number) {
    this.ensure(1)
    this.buf.writeUInt8(v, this.length)
    this.length += 1
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8')
    this.u64(b.length)
    this.ensure(b.length)
    b.copy(this.buf, this.length)
    this.length += b.length
  }
  pad(align: number) {
    const n = (align - (this.length % align)) % align
    this.ensure(n)
    this.buf.fill(0, this.length, this.length + n)
    this.length += n
  }
  bytes() {
    return this.buf.subarray(0, this.length)
  }
}

function writeKV(w: ByteWriter, key: string, kv: KV) {
  w.str(key)
  w.u32(kv.t)
  switch (kv.t) {
    case GType.STRING:
      w.str(kv.v)
      break
    case GType.UINT32:
      w.u32(kv.v)
      break
    case GType.INT32:
      w.i32(kv.v)
      break
    case GType.FLOAT32:
      w.f32(kv.v)
      break
    case GType.BOOL:
      w.u8(kv.v ? 1 : 0)
      break
    case GType.ARRAY:
      w.u32(kv.of)
      w.u64(kv.v.length)
      if (kv.of === GType.STRING) for (const s of kv.v as string[]) w.str(s)
      else if (kv.of === GType.FLOAT32) for (const x of kv.v as Float32Array) w.f32(x)
      else for (const x of kv.v as Int32Array) w.i32(x)
      break
  }
}

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG: mulberry32, seeded per tensor from (seed, tensor name) via FNV-1a

function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 // [0, 1)
  }
}

// float32 → IEEE half (round-to-nearest-even), for f16 storage
const f32buf = new Float32Array(1)
const u32buf = new Uint32Array(f32buf.buffer)
function toHalf(val: number): number {
  f32buf[0] = val
  const x = u32buf[0]
  const sign = (x >>> 16) & 0x8000
  let exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  exp = exp - 127 + 15
  if (exp >= 0x1f) return sign | 0x7c00
  if (exp <= 0) {
    if (exp < -10) return sign
    mant |= 0x800000
    const shift = 14 - exp
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1),
      halfway = 1 << (shift - 1)
    if (rem > halfway || (rem === halfway && half & 1)) half++
    return sign | half
  }
  let half = sign | (exp << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++
  return half
}

// ---------------------------------------------------------------------------------------------
// Vocabulary (SentencePiece-style, tokenizer.ggml.model = "llama")

const WORDS = [
  'the',
  'a',
  'an',
  'and',
  'of',
  'to',
  'in',
  'is',
  'it',
  'that',
  'for',
  'on',
  'with',
  'as',
  'was',
  'are',
  'be',
  'this',
  'by',
  'at',
  'or',
  'from',
  'not',
  'but',
  'you',
  'we',
  'they',
  'he',
  'she',
  'I',
  'hello',
  'Hello',
  'world',
  'World',
  'peer',
  'model',
  'token',
  'test',
  'The',
  'A',
  'What',
  'How',
  'Why',
  'yes',
  'no'
]
const PIECES = [
  'th',
  'he',
  'in',
  'er',
  'an',
  're',
  'on',
  'at',
  'en',
  'nd',
  'ing',
  'ed',
  'es',
  'or',
  'll',
  'lo',
  'wor',
  'rld'
]

export interface TinyVocab {
  tokens: string[]
  scores: Float32Array
  types: Int32Array
  unk: number
  bos: number
  eos: number
  byteStart: number
}

export function buildVocab(size: number): TinyVocab {
  const tokens: string[] = [],
    scores: number[] = [],
    types: number[] = []
  const seen = new Set<string>()
  const add = (t: string, type: number, score: number) => {
    if (seen.has(t) || tokens.length >= size) return
    seen.add(t)
    tokens.push(t)
    types.push(type)
    scores.push(score)
  }
  add('<unk>', TOK_UNKNOWN, 0)
  add('<s>', TOK_CONTROL, 0)
  add('</s>', TOK_CONTROL, 0)
  const byteStart = tokens.length
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TOK_BYTE, 0)
  const base = tokens.length + 1 + 94
  if (size < base) throw new Error(`vocab must be >= ${base}`)
  // Normal pieces: SPM merges the pair whose merged piece has the highest score first.
  // Longer pieces get higher scores so that whole words win over letter-by-letter splits.
  let rank = 0
  const normal = (t: string) => add(t, TOK_NORMAL, -1000 + t.length * 100 - rank++ * 1e-3)
  normal('\u2581')
  for (let c = 0x21; c <= 0x7e; c++) normal(String.fromCharCode(c))
  // SPM only merges adjacent pairs whose concatenation is itself a token, so add every prefix
  // ("▁H", "▁He", "▁Hel", ...) to make whole words reachable.
  for (const w of WORDS) for (let i = 1; i <= w.length; i++) normal('\u2581' + w.slice(0, i))
  for (const p of PIECES) normal(p)
  // Pad deterministically with letter strings of increasing length, with and without the ▁ prefix.
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  for (let len = 1; tokens.length < size; len++) {
    const total = letters.length ** len
    for (let i = 0; i < total && tokens.length < size; i++) {
      let s = '',
        n = i
      for (let k = 0; k < len; k++) {
        s = letters[n % 26] + s
        n = Math.floor(n / 26)
      }
      normal('\u2581' + s)
      normal(s)
    }
  }
  return { tokens, scores: Float32Array.from(scores), types: Int32Array.from(types), unk: 0, bos: 1, eos: 2, byteStart }
}

// ---------------------------------------------------------------------------------------------
// Generator

interface TensorSpec {
  name: string
  ne: number[] // GGUF order: ne[0] fastest
  type: number // ggml type
  fill: (out: Float32Array, rng: () => number) => void
}

export function writeTinyLlamaGguf(path: string, opts: TinyLlamaOptions = {}): TinyGgufResult {
  const embd = opts.embd ?? 64
  const o = {
    seed: (opts.seed ?? 42) >>> 0,
    embd,
    layers: opts.layers ?? 2,
    heads: opts.heads ?? 4,
    headsKv: opts.headsKv ?? 2,
    ff: opts.ff ?? embd * 3,
    vocab: opts.vocab ?? 512,
    ctx: opts.ctx ?? 512,
    weightType: opts.weightType ?? 'f32',
    scale: opts.scale ?? 0.1,
    eos: opts.eos ?? 'suppress',
    name: opts.name ?? 'qvacd-tiny-llama'
  } satisfies TinyGgufResult['options']

  if (o.embd % o.heads !== 0) throw new Error('embd must be divisible by heads')
  if (o.heads % o.headsKv !== 0) throw new Error('heads must be divisible by headsKv')
  const headDim = o.embd / o.heads
  if (headDim % 2 !== 0) throw new Error('head dim must be even (RoPE)')
  const kvDim = headDim * o.headsKv

  const vocab = buildVocab(o.vocab)
  const wType = o.weightType === 'f16' ? GGML_TYPE_F16 : GGML_TYPE_F32
  const S = o.scale
  const BIAS = S // constant value of residual dimension 0 (see header comment)
  const CONTROL = 100 // magnitude of forced/suppressed logit multiplier

  // EOS-after-N chain (see header comment): reserved residual dims 1..N
  let chain: number[] = []
  if (typeof o.eos === 'number') {
    const n = o.eos
    const ids = [...new Set(WORDS.map((w) => vocab.tokens.indexOf('\u2581' + w)).filter((i) => i >= 0))]
    if (!Number.isInteger(n) || n < 1 || n > ids.length || n >= o.embd)
      throw new Error(`eos: N must be an integer in [1, ${Math.min(ids.length, o.embd - 1)}]`)
    chain = ids.slice(0, n)
  } else if (!['suppress', 'early'].includes(o.eos)) throw new Error(`invalid eos option: ${o.eos}`)
  const reserved = 1 + chain.length // residual dims never written by any layer

  const uniform = (out: Float32Array, rng: () => number) => {
    for (let i = 0; i < out.length; i++) out[i] = (rng() * 2 - 1) * S
  }
  const ones = (out: Float32Array) => out.fill(1)
  // matrix [nIn, nOut] (rows = output dims); zero the rows writing into the reserved residual dims
  const residualWriter = (nIn: number) => (out: Float32Array, rng: () => number) => {
    uniform(out, rng)
    out.fill(0, 0, nIn * reserved)
  }

  const tensors: TensorSpec[] = []
  tensors.push({
    name: 'token_embd.weight',
    ne: [o.embd, o.vocab],
    type: wType,
    fill: (out, rng) => {
      uniform(out, rng)
      for (let t = 0; t < o.vocab; t++) {
        out[t * o.embd] = BIAS
        if (chain.length) out.fill(0, t * o.embd + 1, t * o.embd + reserved)
      }
      chain.forEach((tok, i) => {
        out[tok * o.embd + 1 + i] = BIAS
      })
    }
  })
  for (let l = 0; l < o.layers; l++) {
    const p = `blk.${l}.`
    tensors.push(
      { name: p + 'attn_norm.weight', ne: [o.embd], type: GGML_TYPE_F32, fill: ones },
      { name: p + 'attn_q.weight', ne: [o.embd, o.embd], type: wType, fill: uniform },
      { name: p + 'attn_k.weight', ne: [o.embd, kvDim], type: wType, fill: uniform },
      { name: p + 'attn_v.weight', ne: [o.embd, kvDim], type: wType, fill: uniform },
      { name: p + 'attn_output.weight', ne: [o.embd, o.embd], type: wType, fill: residualWriter(o.embd) },
      { name: p + 'ffn_norm.weight', ne: [o.embd], type: GGML_TYPE_F32, fill: ones },
      { name: p + 'ffn_gate.weight', ne: [o.embd, o.ff], type: wType, fill: uniform },
      { name: p + 'ffn_up.weight', ne: [o.embd, o.ff], type: wType, fill: uniform },
      { name: p + 'ffn_down.weight', ne: [o.ff, o.embd], type: wType, fill: residualWriter(o.ff) }
    )
  }
  tensors.push({ name: 'output_norm.weight', ne: [o.embd], type: GGML_TYPE_F32, fill: ones })
  tensors.push({
    name: 'output.weight',
    ne: [o.embd, o.vocab],
    type: wType,
    fill: (out, rng) => {
      uniform(out, rng)
      const control = (tok: number, k: number, extra: [dim: number, v: number][] = []) => {
        out.fill(0, tok * o.embd, (tok + 1) * o.embd)
        out[tok * o.embd] = k
        for (const [d, v] of extra) out[tok * o.embd + d] = v
      }
      // <unk>, <s> and byte-fallback tokens never win: greedy output is plain ASCII pieces.
      control(vocab.unk, -CONTROL)
      control(vocab.bos, -CONTROL)
      for (let b = 0; b < 256; b++) control(vocab.byteStart + b, -CONTROL)
      if (o.eos === 'suppress') control(vocab.eos, -CONTROL)
      else if (o.eos === 'early') control(vocab.eos, CONTROL)
      else if (chain.length) {
        const n = chain.length
        control(
          chain[0],
          CONTROL,
          chain.map((_, i) => [1 + i, -3 * CONTROL])
        )
        for (let i = 1; i < n; i++) control(chain[i], -CONTROL, [[i, 3 * CONTROL]])
        control(vocab.eos, -CONTROL, [[n, 3 * CONTROL]])
      }
    }
  })

  // ---- metadata
  const kvs: [string, KV][] = [
    ['general.architecture', { t: GType.STRING, v: 'llama' }],
    ['general.name', { t: GType.STRING, v: o.name }],
    ['general.alignment', { t: GType.UINT32, v: ALIGNMENT }],
    [
      'general.file_type',
      { t: GType.UINT32, v: wType === GGML_TYPE_F16 ? LLAMA_FTYPE_MOSTLY_F16 : LLAMA_FTYPE_ALL_F32 }
    ],
    ['llama.context_length', { t: GType.UINT32, v: o.ctx }],
    ['llama.embedding_length', { t: GType.UINT32, v: o.embd }],
    ['llama.block_count', { t: GType.UINT32, v: o.layers }],
    ['llama.feed_forward_length', { t: GType.UINT32, v: o.ff }],
    ['llama.attention.head_count', { t: GType.UINT32, v: o.heads }],
    ['llama.attention.head_count_kv', { t: GType.UINT32, v: o.headsKv }],
    ['llama.rope.dimension_count', { t: GType.UINT32, v: headDim }],
    ['llama.rope.freq_base', { t: GType.FLOAT32, v: 10000 }],
    ['llama.attention.layer_norm_rms_epsilon', { t: GType.FLOAT32, v: 1e-5 }],
    ['llama.vocab_size', { t: GType.UINT32, v: o.vocab }],
    ['tokenizer.ggml.model', { t: GType.STRING, v: 'llama' }],
    ['tokenizer.ggml.tokens', { t: GType.ARRAY, of: GType.STRING, v: vocab.tokens }],
    ['tokenizer.ggml.scores', { t: GType.ARRAY, of: GType.FLOAT32, v: vocab.scores }],
    ['tokenizer.ggml.token_type', { t: GType.ARRAY, of: GType.INT32, v: vocab.types }],
    ['tokenizer.ggml.bos_token_id', { t: GType.UINT32, v: vocab.bos }],
    ['tokenizer.ggml.eos_token_id', { t: GType.UINT32, v: vocab.eos }],
    ['tokenizer.ggml.unknown_token_id', { t: GType.UINT32, v: vocab.unk }],
    ['tokenizer.ggml.add_bos_token', { t: GType.BOOL, v: true }],
    ['tokenizer.ggml.add_eos_token', { t: GType.BOOL, v: false }]
  ]

  // ---- header + tensor infos
  const w = new ByteWriter()
  w.u32(GGUF_MAGIC)
  w.u32(GGUF_VERSION)
  w.u64(tensors.length)
  w.u64(kvs.length)
  for (const [k, v] of kvs) writeKV(w, k, v)

  const elemCount = (t: TensorSpec) => t.ne.reduce((a, b) => a * b, 1)
  const byteSize = (t: TensorSpec) => elemCount(t) * (t.type === GGML_TYPE_F16 ? 2 : 4)
  const alignUp = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT
  let offset = 0
  for (const t of tensors) {
    w.str(t.name)
    w.u32(t.ne.length)
    for (const d of t.ne) w.u64(d)
    w.u32(t.type)
    w.u64(offset)
    offset = alignUp(offset + byteSize(t))
  }
  w.pad(ALIGNMENT)

  // ---- stream to disk, hashing as we go
  const hash = createHash('sha256')
  const fd = openSync(path, 'w')
  let size = 0,
    params = 0
  const put = (b: Uint8Array) => {
    writeSync(fd, b)
    hash.update(b)
    size += b.length
  }
  try {
    put(w.bytes())
    for (const t of tensors) {
      const n = elemCount(t)
      params += n
      const data = new Float32Array(n)
      t.fill(data, mulberry32(fnv1a(t.name, fnv1a(String(o.seed)))))
      let bytes: Uint8Array
      if (t.type === GGML_TYPE_F16) {
        const h = new Uint16Array(n)
        for (let i = 0; i < n; i++) h[i] = toHalf(data[i])
        bytes = new Uint8Array(h.buffer) // host is little-endian (x64/arm64)
      } else bytes = new Uint8Array(data.buffer)
      put(bytes)
      const padLen = alignUp(bytes.length) - bytes.length
      if (padLen) put(new Uint8Array(padLen))
    }
  } finally {
    closeSync(fd)
  }

  return {
    path,
    size,
    sha256: hash.digest('hex'),
    parameterCount: params,
    tensorCount: tensors.length,
    vocabSize: o.vocab,
    bosTokenId: vocab.bos,
    eosTokenId: vocab.eos,
    unkTokenId: vocab.unk,
    eosChain: chain.map((t) => vocab.tokens[t]),
    options: o
  }
}
