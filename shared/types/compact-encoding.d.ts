// The surface of compact-encoding 3 that qvacd uses (the published @types target v2).
declare module 'compact-encoding' {
  export interface State {
    start: number
    end: number
    buffer: Uint8Array | null
  }
  export interface Encoding<T> {
    preencode(state: State, value: T): void
    encode(state: State, value: T): void
    decode(state: State): T
  }
  export function state(start?: number, end?: number, buffer?: Uint8Array | null): State
  export function encode<T>(enc: Encoding<T>, value: T): Buffer
  export function decode<T>(enc: Encoding<T>, buffer: Uint8Array): T
  export function array<T>(enc: Encoding<T>): Encoding<T[]>

  export const uint: Encoding<number>
  export const uint8: Encoding<number>
  export const uint32: Encoding<number>
  export const int: Encoding<number>
  export const float64: Encoding<number>
  export const bool: Encoding<boolean>
  export const string: Encoding<string>
  export const buffer: Encoding<Buffer | null>
  export const raw: Encoding<Buffer>
  export const fixed32: Encoding<Buffer>
  export const none: Encoding<null>
  export const float32array: Encoding<Float32Array>

  const c: {
    state: typeof state
    encode: typeof encode
    decode: typeof decode
    array: typeof array
    uint: typeof uint
    uint8: typeof uint8
    uint32: typeof uint32
    int: typeof int
    float64: typeof float64
    bool: typeof bool
    string: typeof string
    buffer: typeof buffer
    raw: typeof raw
    fixed32: typeof fixed32
    none: typeof none
    float32array: typeof float32array
  }
  export default c
}
